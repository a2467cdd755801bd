"""Run analytics (SPEC §12): counts by status, success rate and duration percentiles,
overall and by dataset, model and day, as JSON or CSV.

Counts are aggregated in SQL (GROUP BY, the same statements on SQLite and Postgres), and
so is each completed run's duration (started → completed). The percentiles are computed
here over those numbers: neither database has a portable percentile aggregate, and four
small columns of the completed runs are cheap to read.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.models.run import RUN_STATUSES, Run

PERCENTILES = (50, 90, 99)
FINISHED = ("completed", "failed", "timeout", "cancelled")
OVERALL = "all"


@dataclass
class Group:
    """One row of the statistics: the runs of one dataset, model or day (or all)."""

    key: str | None
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RUN_STATUSES, 0))
    durations: list[float] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return sum(self.by_status.values())

    @property
    def finished(self) -> int:
        return sum(self.by_status[s] for s in FINISHED)

    @property
    def success_rate(self) -> float | None:
        """Completed / finished (failed, timed out, cancelled); None before any finished."""
        return self.by_status["completed"] / self.finished if self.finished else None

    def percentiles(self) -> dict[str, float | None]:
        ordered = sorted(self.durations)
        return {f"p{p}": percentile(ordered, p / 100) for p in PERCENTILES}


@dataclass
class Stats:
    kind: str | None
    created_after: datetime | None
    created_before: datetime | None
    overall: Group
    by_dataset: list[Group]
    by_model: list[Group]
    per_day: list[Group]


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _day(session: AsyncSession, column: Any) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp as YYYY-MM-DD."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)  # SQLite keeps naive UTC text


def _seconds(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[Any]:
    """``later - earlier`` in seconds, computed by the database (no timestamps to parse)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


async def run_stats(
    session: AsyncSession,
    *,
    kind: str | None = "train",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Stats:
    """Statistics of the runs of ``kind`` (None = every kind) created in [after, before)."""
    where: list[ColumnElement[bool]] = []
    if kind is not None:
        where.append(Run.kind == kind)
    if created_after is not None:
        where.append(Run.created_at >= created_after)
    if created_before is not None:
        where.append(Run.created_at < created_before)
    day = _day(session, Run.created_at)
    overall = Group(OVERALL)
    groups: dict[str, dict[str | None, Group]] = {"dataset": {}, "model": {}, "day": {}}
    dimensions = {"dataset": Run.dataset_key, "model": Run.model_id, "day": day}
    for name, column in dimensions.items():
        rows = await session.execute(
            select(column, Run.status, func.count()).where(*where).group_by(column, Run.status)
        )
        for key, status, count in rows:
            group = groups[name].setdefault(key, Group(key))
            group.by_status[status] = int(count)
            if name == "day":
                overall.by_status[status] += int(count)
    completed = await session.execute(
        select(
            Run.dataset_key, Run.model_id, day, _seconds(session, Run.completed_at, Run.started_at)
        ).where(
            *where,
            Run.status == "completed",
            Run.started_at.is_not(None),
            Run.completed_at.is_not(None),
        )
    )
    for dataset_key, model_id, run_day, elapsed in completed:
        # Milliseconds: SQLite's julianday arithmetic is off by some microseconds.
        seconds = max(0.0, round(float(elapsed), 3))
        overall.durations.append(seconds)
        groups["dataset"][dataset_key].durations.append(seconds)
        groups["model"][model_id].durations.append(seconds)
        groups["day"][run_day].durations.append(seconds)

    def by_runs(name: str) -> list[Group]:
        return sorted(groups[name].values(), key=lambda g: (-g.runs, g.key or ""))

    return Stats(
        kind=kind,
        created_after=created_after,
        created_before=created_before,
        overall=overall,
        by_dataset=by_runs("dataset"),
        by_model=by_runs("model"),
        per_day=sorted(groups["day"].values(), key=lambda g: g.key or ""),
    )


CSV_COLUMNS = [
    "group",
    "key",
    "runs",
    *RUN_STATUSES,
    "success_rate",
    "completed_with_duration",
    *(f"duration_p{p}_seconds" for p in PERCENTILES),
]


def stats_csv(stats: Stats) -> str:
    """One row per group: overall, then each dataset, model and day."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    sections = [("overall", [stats.overall]), ("dataset", stats.by_dataset)]
    sections += [("model", stats.by_model), ("day", stats.per_day)]
    for name, groups in sections:
        for g in groups:
            rate = "" if g.success_rate is None else f"{g.success_rate:.4f}"
            percentiles = [_number(v) for v in g.percentiles().values()]
            counts = [g.by_status[s] for s in RUN_STATUSES]
            writer.writerow(
                [name, _safe(g.key), g.runs, *counts, rate, len(g.durations), *percentiles]
            )
    return out.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _safe(text: str | None) -> str:
    """A key as a spreadsheet cell that is never a formula (CSV injection)."""
    if text is None:
        return ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def group_view(group: Group) -> dict[str, Any]:
    """The JSON shape of a group (schemas.RunStatsGroup)."""
    return {
        "key": group.key,
        "runs": group.runs,
        "by_status": group.by_status,
        "finished": group.finished,
        "success_rate": group.success_rate,
        "completed_with_duration": len(group.durations),
        "duration_seconds": group.percentiles(),
    }
