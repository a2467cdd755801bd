"""Application factory. Nothing happens at import time; ``create_app`` wires it all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tunix_rt import __version__
from tunix_rt.auth.install import install_auth
from tunix_rt.config import Settings, load_settings
from tunix_rt.datasets.endpoints import router as datasets_router
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.evals.endpoints import MAX_EVAL_SET_BYTES
from tunix_rt.evals.endpoints import router as evals_router
from tunix_rt.generators.endpoints import router as generators_router
from tunix_rt.health import router as health_router
from tunix_rt.integrations.rediai import make_rediai_client
from tunix_rt.jobs import register_job_kinds
from tunix_rt.kit.errors import install_error_handlers
from tunix_rt.kit.hardening import install_hardening
from tunix_rt.kit.request_guard import NDJSON_TYPES, RequestGuardMiddleware
from tunix_rt.migrations import ensure_schema_current
from tunix_rt.observability.metrics import install_metrics
from tunix_rt.registry.endpoints import router as registry_router
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.endpoints import router as runs_router
from tunix_rt.runs.worker import embedded_worker
from tunix_rt.traces.endpoints import router as traces_router
from tunix_rt.tuning.endpoints import router as tuning_router
from tunix_rt.web import mount_frontend
from tunix_rt.webhooks.dispatch import webhook_sender
from tunix_rt.webhooks.endpoints import router as webhooks_router


def create_app(settings: Settings | None = None, *, check_schema: bool = True) -> FastAPI:
    """Build the ASGI app. The lifespan opens the engine and refuses an old schema."""
    settings = settings or load_settings()
    register_job_kinds()
    slots = Slots(settings.worker_concurrency)  # this process's runs: worker + sync requests

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        rediai = make_rediai_client(settings)
        try:
            if check_schema:
                await ensure_schema_current(engine)
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            app.state.rediai = rediai
            async with (
                embedded_worker(app.state.sessionmaker, settings, slots),
                webhook_sender(app.state.sessionmaker, enabled=settings.embedded_worker),
            ):
                yield
        finally:
            await rediai.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Tunix RT",
        version=__version__,
        description="Reasoning-trace workbench: traces, datasets, Tunix training, evaluation.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.slots = slots
    install_error_handlers(app)
    app.add_middleware(
        RequestGuardMiddleware,
        hosts=lambda: settings.host_names,
        default_limit=lambda: settings.request_max_bytes,
        limits={
            ("POST", "/api/traces"): lambda: settings.trace_max_bytes,
            ("POST", "/api/traces/batch"): lambda: settings.batch_max_bytes,
            ("POST", "/api/eval-sets"): lambda: MAX_EVAL_SET_BYTES,
            ("POST", "/api/eval-sets/import"): lambda: MAX_EVAL_SET_BYTES,
        },
        body_types={("POST", "/api/eval-sets/import"): NDJSON_TYPES},
    )
    install_auth(app, settings)  # outside the guard: no token, no body buffered
    install_hardening(app, settings)  # outside auth: request ids, headers, CORS, rate limit
    install_metrics(app)
    app.include_router(health_router)
    app.include_router(traces_router)
    app.include_router(tuning_router)
    app.include_router(generators_router)
    app.include_router(datasets_router)
    app.include_router(runs_router)
    app.include_router(evals_router)
    app.include_router(registry_router)
    app.include_router(webhooks_router)
    mount_frontend(app)  # last: its catch-all must not shadow API routes
    return app
