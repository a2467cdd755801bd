"""Prometheus ``/metrics``: HTTP figures of this process, run/queue/trace figures from the DB.

Run and queue figures are computed from the database at scrape time, so runs executed by
stand-alone workers (other processes, other hosts) are counted exactly like the embedded
worker's, and every server replica reports the same numbers.
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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunix_rt.models.run import Run
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


async def _histogram(
    session: AsyncSession,
    name: str,
    doc: str,
    value: Any,
    where: Sequence[ColumnElement[bool]],
    buckets: Sequence[float],
) -> HistogramMetricFamily:
    columns = [func.count(), func.coalesce(func.sum(value), 0.0)]
    columns += [func.coalesce(func.sum(case((value <= b, 1), else_=0)), 0) for b in buckets]
    row = (await session.execute(select(*columns).select_from(Run).where(*where))).one()
    count, total = int(row[0]), float(row[1])
    cumulative = [(repr(b), int(n)) for b, n in zip(buckets, row[2:], strict=True)]
    cumulative.append(("+Inf", count))
    return HistogramMetricFamily(name, doc, buckets=cumulative, sum_value=total)


async def database_metrics(session: AsyncSession) -> list[Metric]:
    """Run, queue and trace figures as of now, for every worker and server together."""
    runs = CounterMetricFamily(
        "tunix_rt_runs", "Runs in the registry by status and mode.", labels=["status", "mode"]
    )
    for status, mode, n in await session.execute(
        select(Run.status, Run.mode, func.count()).group_by(Run.status, Run.mode)
    ):
        runs.add_metric([status, mode], int(n))
    depth = (
        await session.execute(select(func.count()).select_from(Run).where(Run.status == "pending"))
    ).scalar_one()
    queue_depth = GaugeMetricFamily("tunix_rt_queue_depth", "Runs waiting for a worker.")
    queue_depth.add_metric([], int(depth))
    durations = await _histogram(
        session,
        "tunix_rt_run_duration_seconds",
        "Wall time of finished runs.",
        Run.duration_seconds,
        [Run.duration_seconds.is_not(None)],
        DURATION_BUCKETS,
    )
    waits = await _histogram(
        session,
        "tunix_rt_queue_wait_seconds",
        "Time from enqueue to first start of a run.",
        _seconds_between(session, Run.started_at, Run.queued_at),
        [Run.started_at.is_not(None)],
        WAIT_BUCKETS,
    )
    n_traces = (await session.execute(select(func.count()).select_from(Trace))).scalar_one()
    traces = CounterMetricFamily("tunix_rt_traces_ingested", "Traces stored.")
    traces.add_metric([], int(n_traces))
    return [runs, durations, queue_depth, waits, traces]


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
