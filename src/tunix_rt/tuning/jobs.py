"""The ``tune`` job kind: a tuning job's child is the Ray Tune driver."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.models.run import Run
from tunix_rt.runs.jobs import ChildSpec
from tunix_rt.tuning.driver import (
    CONFIG_FILE,
    HEAD_ADDRESS_ENV,
    HEAD_SECONDS_ENV,
    SETTINGS_ENV,
    TRIALS_STOP_SECONDS,
)
from tunix_rt.tuning.ray_head import EMBEDDED_RAY

log = logging.getLogger(__name__)


class TuneJob:
    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec:
        out = Path(run.output_dir)
        out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (one mkdir)
        config = {"job_id": str(run.id), "request": run.config}
        path = out / CONFIG_FILE
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        # The settings (database URL included) travel in the environment, not in a file
        # of the run directory, which the artifact endpoints serve.
        env = {SETTINGS_ENV: settings.model_dump_json()}
        if not settings.ray_address:
            try:
                head = await asyncio.to_thread(
                    EMBEDDED_RAY.ensure, Path(settings.data_dir) / "ray-head.log"
                )
                env |= head.join_env()
                env |= {HEAD_ADDRESS_ENV: head.address, HEAD_SECONDS_ENV: f"{head.seconds:.3f}"}
            except (OSError, RuntimeError) as exc:  # the driver starts a Ray of its own
                log.warning("tuning job %s: %s", run.id, exc)
        return ChildSpec(
            argv=[sys.executable, "-m", "tunix_rt.cli", "tune", "driver", "--config", str(path)],
            cwd=out,
            env=env,
            # On cancel the driver waits for its trials' runs to end before stopping Ray.
            cancel_grace_seconds=settings.run_cancel_grace_seconds + TRIALS_STOP_SECONDS,
        )

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None:
        """Nothing to add: trials stored their results as they ended."""


TUNE_JOB = TuneJob()
