"""``tunix-rt worker``: a stand-alone queue worker process."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from typing import Annotated

import typer

from tunix_rt.cli.common import check_schema_or_exit, console, fail, settings_or_exit
from tunix_rt.runs.worker import Executor, default_worker_id, run_worker


def _load_executor(spec: str) -> Executor:
    module, _, attr = spec.partition(":")
    try:
        fn: Executor = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise fail(f"--executor {spec}: {exc}", 2) from None
    return fn


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Runs executed at once (default TUNIX_RT_WORKER_CONCURRENCY or 1).",
            envvar="TUNIX_RT_WORKER_CONCURRENCY",
        ),
    ] = None,
    min_priority: Annotated[
        int | None,
        typer.Option(
            help="Only claim runs with at least this priority.",
            envvar="TUNIX_RT_WORKER_MIN_PRIORITY",
        ),
    ] = None,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="Only claim runs of this named queue (repeat for several; default: all).",
        ),
    ] = None,
    worker_id: Annotated[
        str | None,
        typer.Option(
            help="Name shown on claimed runs (default host:pid:random).",
            envvar="TUNIX_RT_WORKER_ID",
        ),
    ] = None,
    executor: Annotated[
        str | None, typer.Option(hidden=True, help="module:function replacing execute_run.")
    ] = None,
) -> None:
    """Claim and execute queued runs until SIGTERM/SIGINT (then finish or re-queue them)."""
    from tunix_rt.cli.common import sessionmaker_for
    from tunix_rt.webhooks.dispatch import webhook_sender

    settings = settings_or_exit()
    check_schema_or_exit(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    name = worker_id or default_worker_id()
    run_fn = _load_executor(executor) if executor else None

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with sessionmaker_for(settings) as sessionmaker, webhook_sender(sessionmaker):
            w = await run_worker(
                sessionmaker,
                settings,
                stop,
                worker_id=name,
                concurrency=concurrency,
                min_priority=min_priority,
                queues=queue,
                executor=run_fn,
            )
        return w.processed

    slots = concurrency or settings.worker_concurrency
    console.print(f"worker {name} started (concurrency {slots})")
    processed = asyncio.run(main())
    console.print(f"worker {name} stopped after {processed} run(s)")
