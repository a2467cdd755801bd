"""Prometheus ``/metrics``: HTTP figures of this process, run/queue/trace figures from the DB.

Run and queue figures are computed from the database at scrape time, so runs executed by
stand-alone workers (other processes, other hosts) are counted exactly like the embedded
worker's, and every server replica reports the same numbers. Counters and histograms stay
monotonic: they count rows that no longer change (finished runs, started runs, stored
traces), and a deletion first adds what the deleted rows contributed to
``metric_tombstones`` (``retire_runs``, ``retire_traces``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunix_rt.db import utcnow
from tunix_rt.models.metric import MetricTombstone
from tunix_rt.models.run import ACTIVE_STATUSES, TERMINAL_STATUSES, Run
from tunix_rt.models.trace import Trace

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
WAIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

router = APIRouter()


class HttpMetrics:
    """Per-app request counter and latency histogram (labels: method, route, status)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("method", "route", "status")
        self.requests = Counter(
            "tunix_rt_http_requests",
            "HTTP requests by method, route template and status code.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "tunix_rt_http_request_duration_seconds",
            "HTTP request latency by method, route template and status code.",
            labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )


class HttpMetricsMiddleware:
    """Pure ASGI (no buffering, so SSE streams pass straight through)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            labels = (scope.get("method", "?"), template, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - start)


def _seconds_between(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


# A sample: (sample name, labels as "k=v,k=v" sorted by key).
Sample = tuple[str, str]

RUNS_TOTAL = "tunix_rt_runs_total"
TRACES_TOTAL = "tunix_rt_traces_ingested_total"
DURATION = "tunix_rt_run_duration_seconds"
WAIT = "tunix_rt_queue_wait_seconds"


def _labels(**values: str) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def _label_values(labels: str, *names: str) -> list[str]:
    pairs = dict(part.split("=", 1) for part in labels.split(",") if part)
    return [pairs.get(name, "") for name in names]


async def _histogram_samples(
    session: AsyncSession,
    name: str,
    value: Any,
    where: Sequence[ColumnElement[bool]],
    buckets: Sequence[float],
) -> dict[Sample, float]:
    columns = [func.count(), func.coalesce(func.sum(value), 0.0)]
    columns += [func.coalesce(func.sum(case((value <= b, 1), else_=0)), 0) for b in buckets]
    row = (await session.execute(select(*columns).select_from(Run).where(*where))).one()
    out: dict[Sample, float] = {(f"{name}_count", ""): float(row[0])}
    out[(f"{name}_sum", "")] = float(row[1])
    for bucket, n in zip(buckets, row[2:], strict=True):
        out[(f"{name}_bucket", _labels(le=repr(bucket)))] = float(n)
    return out


async def run_samples(
    session: AsyncSession, where: Sequence[ColumnElement[bool]] = ()
) -> dict[Sample, float]:
    """What the runs matching ``where`` contribute to the run counters and histograms:
    finished runs by status and mode, finished runs' durations, started runs' queue waits
    (rows that no longer change once counted)."""
    out: dict[Sample, float] = {}
    finished = Run.status.in_(sorted(TERMINAL_STATUSES))
    for status, mode, n in await session.execute(
        select(Run.status, Run.mode, func.count())
        .where(finished, *where)
        .group_by(Run.status, Run.mode)
    ):
        out[(RUNS_TOTAL, _labels(mode=mode, status=status))] = float(n)
    out |= await _histogram_samples(
        session,
        DURATION,
        Run.duration_seconds,
        [Run.duration_seconds.is_not(None), *where],
        DURATION_BUCKETS,
    )
    out |= await _histogram_samples(
        session,
        WAIT,
        _seconds_between(session, Run.started_at, Run.queued_at),
        [Run.started_at.is_not(None), *where],
        WAIT_BUCKETS,
    )
    return out


async def _tombstones(session: AsyncSession) -> dict[Sample, float]:
    rows = await session.execute(
        select(MetricTombstone.name, MetricTombstone.labels, MetricTombstone.value)
    )
    return {(name, labels): float(value) for name, labels, value in rows}


async def retire(session: AsyncSession, samples: dict[Sample, float]) -> None:
    """Add ``samples`` to the tombstones (in the caller's transaction)."""
    values = [
        {"name": name, "labels": labels, "value": value}
        for (name, labels), value in samples.items()
        if value
    ]
    if not values:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(MetricTombstone)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["name", "labels"],
            set_={"value": MetricTombstone.value + statement.excluded.value},
        ),
        values,
    )


async def retire_runs(session: AsyncSession, where: Sequence[ColumnElement[bool]]) -> None:
    """Call before deleting the runs matching ``where``."""
    await retire(session, await run_samples(session, where))


async def retire_traces(session: AsyncSession, count: int) -> None:
    """Call when ``count`` traces have been deleted."""
    await retire(session, {(TRACES_TOTAL, ""): float(count)})


def _histogram(
    samples: dict[Sample, float], name: str, doc: str, buckets: Sequence[float]
) -> HistogramMetricFamily:
    count = samples.get((f"{name}_count", ""), 0.0)
    cumulative = [
        (repr(b), samples.get((f"{name}_bucket", _labels(le=repr(b))), 0.0)) for b in buckets
    ]
    cumulative.append(("+Inf", count))
    return HistogramMetricFamily(
        name, doc, buckets=cumulative, sum_value=samples.get((f"{name}_sum", ""), 0.0)
    )


async def database_metrics(session: AsyncSession) -> list[Metric]:
    """Run, queue and trace figures as of now, for every worker and server together."""
    samples = await run_samples(session)
    n_traces = (await session.execute(select(func.count()).select_from(Trace))).scalar_one()
    samples[(TRACES_TOTAL, "")] = float(n_traces)
    for key, value in (await _tombstones(session)).items():
        samples[key] = samples.get(key, 0.0) + value

    runs = CounterMetricFamily(
        "tunix_rt_runs", "Finished runs by final status and mode.", labels=["status", "mode"]
    )
    for (name, labels), value in sorted(samples.items()):
        if name == RUNS_TOTAL:
            runs.add_metric(_label_values(labels, "status", "mode"), value)
    active = GaugeMetricFamily(
        "tunix_rt_runs_active",
        "Runs not finished yet, by status (pending, running, cancel_requested) and mode.",
        labels=["status", "mode"],
    )
    depth = 0
    for status, mode, n in await session.execute(
        select(Run.status, Run.mode, func.count())
        .where(Run.status.not_in(sorted(TERMINAL_STATUSES)))
        .group_by(Run.status, Run.mode)
    ):
        active.add_metric([status, mode], int(n))
        depth += int(n) if status == "pending" else 0
    queue_depth = GaugeMetricFamily("tunix_rt_queue_depth", "Runs waiting for a worker.")
    queue_depth.add_metric([], depth)
    now = utcnow()
    oldest = await session.scalar(select(func.min(Run.queued_at)).where(Run.status == "pending"))
    # The queue-wait histogram only sees runs once they start: a stuck queue shows here.
    oldest_wait = GaugeMetricFamily(
        "tunix_rt_queue_oldest_pending_seconds",
        "How long the oldest run still waiting for a worker has waited (0 when none).",
    )
    oldest_wait.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    busy = await session.scalar(
        select(func.count(func.distinct(Run.worker_id))).where(
            Run.status.in_(sorted(ACTIVE_STATUSES)), Run.lease_expires_at > now
        )
    )
    workers = GaugeMetricFamily(
        "tunix_rt_workers_busy",
        "Workers holding a live (unexpired) lease on a run: distinct worker ids. With runs "
        "queued and none busy, no live worker is taking them.",
    )
    workers.add_metric([], int(busy or 0))
    traces = CounterMetricFamily("tunix_rt_traces_ingested", "Traces stored (ever).")
    traces.add_metric([], samples[(TRACES_TOTAL, "")])
    return [
        runs,
        active,
        _histogram(samples, DURATION, "Wall time of finished runs.", DURATION_BUCKETS),
        queue_depth,
        oldest_wait,
        workers,
        _histogram(samples, WAIT, "Time from enqueue to first start of a run.", WAIT_BUCKETS),
        traces,
    ]


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        families = await database_metrics(session)
    db_registry = CollectorRegistry(auto_describe=False)
    db_registry.register(_Fixed(families))
    http: HttpMetrics = request.app.state.http_metrics
    body = generate_latest(db_registry) + generate_latest(http.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> None:
    """Count every HTTP request and serve ``GET /metrics``."""
    http = HttpMetrics()
    app.state.http_metrics = http
    app.add_middleware(HttpMetricsMiddleware, metrics=http)
    app.include_router(router)
