"""The ``tune`` job kind: a tuning job's child is the Ray Tune driver."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.models.run import Run
from tunix_rt.runs.jobs import ChildSpec
from tunix_rt.tuning.driver import CONFIG_FILE, SETTINGS_ENV, TRIALS_STOP_SECONDS


class TuneJob:
    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec:
        out = Path(run.output_dir)
        out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (one mkdir)
        config = {"job_id": str(run.id), "request": run.config}
        path = out / CONFIG_FILE
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        # The settings (database URL included) travel in the environment, not in a file
        # of the run directory, which the artifact endpoints serve.
        return ChildSpec(
            argv=[sys.executable, "-m", "tunix_rt.cli", "tune", "driver", "--config", str(path)],
            cwd=out,
            env={SETTINGS_ENV: settings.model_dump_json()},
            # On cancel the driver waits for its trials' runs to end before stopping Ray.
            cancel_grace_seconds=settings.run_cancel_grace_seconds + TRIALS_STOP_SECONDS,
        )

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None:
        """Nothing to add: trials stored their results as they ended."""


TUNE_JOB = TuneJob()
