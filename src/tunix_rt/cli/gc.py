"""``tunix-rt gc``: retention and garbage collection of run files (docs/runs.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Any

import typer

from tunix_rt.cli.common import console, err_console, sessionmaker_for, settings_or_exit
from tunix_rt.runs.gc import GcReport, Removed, collect_garbage


def _item(item: Removed) -> dict[str, Any]:
    return {
        "path": item.path,
        "bytes": item.bytes,
        "run_id": str(item.run_id) if item.run_id else None,
        "reason": item.reason or None,
    }


def report_json(report: GcReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "retention_days": report.retention_days,
        "runs": [_item(i) for i in report.runs],
        "orphans": [_item(i) for i in report.orphans],
        "temp": [_item(i) for i in report.temp],
        "skipped": [_item(i) for i in report.skipped],
        "bytes_freed": report.bytes_freed,
    }


def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would go; remove nothing.")
    ] = False,
    retention_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            envvar="TUNIX_RT_RUN_RETENTION_DAYS",
            help="Delete finished runs older than this (default: the setting; unset keeps them).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Remove expired finished runs, orphaned run files and stale registry temp files."""
    settings = settings_or_exit()

    async def run() -> GcReport:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            async with session.begin():
                report = await collect_garbage(
                    session, settings, dry_run=dry_run, retention_days=retention_days
                )
            return report

    report = asyncio.run(run())
    if as_json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
        return
    verb = "would remove" if dry_run else "removed"
    if report.retention_days is None:
        err_console.print("retention not set (TUNIX_RT_RUN_RETENTION_DAYS): runs are kept")
    for item in report.runs:
        console.print(f"{verb} run {item.run_id} ({item.bytes} bytes)", highlight=False)
    for item in (*report.orphans, *report.temp):
        console.print(f"{verb} {item.path} ({item.bytes} bytes)", highlight=False)
    for item in report.skipped:
        err_console.print(f"kept run {item.run_id}: {item.reason}", highlight=False)
    console.print(
        f"{verb} {len(report.runs)} run(s), {len(report.orphans)} orphan(s), "
        f"{len(report.temp)} temp item(s): {report.bytes_freed} bytes "
        f"{'would be ' if dry_run else ''}freed",
        highlight=False,
    )
