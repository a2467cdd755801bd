"""deploy/: the Grafana dashboard and the Prometheus alert rules parse, and every metric
their expressions name is in a real ``/metrics`` scrape of the app (so a renamed metric
breaks this test, not a production alert). Also the two figures added for the alerts:
the oldest queued run's wait and the busy workers."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.runs.conftest import add_run
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
ALERTS = DEPLOY / "prometheus-alerts.yml"
# Series Prometheus makes itself (not the app's).
PROMETHEUS_OWN = {"up"}
REQUIRED_ALERTS = {"TunixRtHighRunFailureRate", "TunixRtQueueWaitTooLong", "TunixRtNoLiveWorker"}


def metric_names(node: Any) -> set[str]:
    """Every metric a PromQL syntax tree selects."""
    names: set[str] = set()
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            names.add(node.name)
        return names
    for attr in ("lhs", "rhs", "expr", "param", "vector_selector", "args"):
        child = getattr(node, attr, None)
        for item in child if isinstance(child, list) else [child]:
            if item is not None and not isinstance(item, str | int | float):
                names |= metric_names(item)
    return names


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    out = {}
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            out[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    return out


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_files_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] == "tunix-rt"
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource"}
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
    rules = alert_rules()
    assert {r["alert"] for r in rules} >= REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["for"].endswith("m")
    # Every expression is valid PromQL.
    expressions = {**dashboard_expressions(), **{r["alert"]: r["expr"] for r in rules}}
    for where, expr in expressions.items():
        try:
            promql_parser.parse(expr)
        except Exception as exc:  # the parser raises its own error types
            pytest.fail(f"{where}: {exc}\n{expr}")


async def test_every_referenced_metric_is_served(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    engine = create_engine(settings)
    try:
        sm = create_sessionmaker(engine)
        # A finished and a queued run, so the labelled series have samples.
        await add_run(sm, settings, status="failed", started_at=utcnow(), completed_at=utcnow())
        await add_run(sm, settings)
    finally:
        await engine.dispose()
    assert (await client.get("/api/health")).status_code == 200  # HTTP series exist
    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    served = {s.name for f in text_string_to_metric_families(scrape.text) for s in f.samples}

    referenced: dict[str, set[str]] = {}
    sources = {**dashboard_expressions(), **{r["alert"]: r["expr"] for r in alert_rules()}}
    for where, expr in sources.items():
        for name in metric_names(promql_parser.parse(expr)):
            referenced.setdefault(name, set()).add(where)
    missing = {n: sorted(w) for n, w in referenced.items() if n not in served | PROMETHEUS_OWN}
    assert not missing, f"not in /metrics: {missing}"
    # The sweep saw the figures the alerts stand on.
    assert {
        "tunix_rt_runs_total",
        "tunix_rt_queue_oldest_pending_seconds",
        "tunix_rt_queue_depth",
        "tunix_rt_workers_busy",
        "tunix_rt_http_requests_total",
        "tunix_rt_queue_wait_seconds_bucket",
    } <= set(referenced)


def _gauges(text: str) -> dict[str, float]:
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if not s.labels
    }


async def test_oldest_pending_wait_and_busy_workers(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    empty = _gauges((await client.get("/metrics")).text)
    assert empty["tunix_rt_queue_oldest_pending_seconds"] == 0
    assert empty["tunix_rt_workers_busy"] == 0

    now = utcnow()
    later = now + timedelta(minutes=5)
    engine = create_engine(settings)
    try:
        sm = create_sessionmaker(engine)
        await add_run(sm, settings, queued_at=now - timedelta(minutes=2))
        await add_run(sm, settings, queued_at=now - timedelta(seconds=10))
        for status, worker, lease in (
            ("running", "w1", later),
            ("cancel_requested", "w1", later),  # the same worker
            ("running", "w2", later),
            ("running", "dead", now - timedelta(minutes=1)),  # its lease ran out
            ("completed", "w3", later),  # not holding anything
        ):
            await add_run(
                sm,
                settings,
                id=uuid.uuid4(),
                status=status,
                worker_id=worker,
                lease_expires_at=lease,
                started_at=now,
            )
    finally:
        await engine.dispose()
    gauges = _gauges((await client.get("/metrics")).text)
    assert 120 <= gauges["tunix_rt_queue_oldest_pending_seconds"] < 180
    assert gauges["tunix_rt_workers_busy"] == 2
    assert gauges["tunix_rt_queue_depth"] == 2
