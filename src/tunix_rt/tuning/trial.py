"""One Ray Tune trial: an ordinary training run, executed inside the Ray worker.

``trainable()`` is the Ray Tune trainable. Its ``setup`` inserts the trial's run
(validated like any run) held by this process and executes it with the runs domain's
executor (child process, log, metrics, checkpoints, lease); each ``step`` returns the
next held-out eval loss as it is written; the last one evaluates the finished model
like any run (its leaderboard row) and returns the job's metric. When ASHA stops the
trial, ``cleanup`` cancels the run with the reason and marks the trial stopped early.

The executor runs on an event loop in a background thread; ``step`` only polls, so a
step waiting on the driver never stalls log pumping or lease renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow
from tunix_rt.evals import service as evals
from tunix_rt.evals.schemas import EvaluateRequest
from tunix_rt.kit.errors import DomainError
from tunix_rt.models.run import TERMINAL_STATUSES, Run
from tunix_rt.models.tuning import TuningTrial
from tunix_rt.runs import service as runs
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import execute_run
from tunix_rt.tuning import service
from tunix_rt.tuning.schemas import TuningJobCreate

T = TypeVar("T")
_FINISHED = None  # queued after the last eval point, when the run's execution ends


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs, shipped by Ray to the worker (``tune.with_parameters``)."""

    settings_json: str
    job_id: str
    request_json: str
    # Registers the job kinds in the Ray worker (``tunix_rt.jobs.register_job_kinds``),
    # passed in by the assembling entry point so this module never imports it.
    prepare_process: Callable[[], None]


def trainable() -> type[Any]:
    """The Ray Tune class trainable (built on first use, so the server never imports
    Ray). A class rather than a function: when the scheduler stops a trial, Ray runs its
    ``cleanup`` in the actor before ending it, so the run is cancelled and recorded
    properly instead of dying with the actor."""
    from ray import tune

    class TrialTrainable(tune.Trainable):
        def setup(  # type: ignore[override]  # with_parameters adds context
            self, config: dict[str, Any], context: TrialContext
        ) -> None:
            context.prepare_process()
            self.context = context
            self._begin(config)

        def _begin(self, config: dict[str, Any]) -> None:
            context = self.context
            self.runner = TrialRunner(
                Settings.model_validate_json(context.settings_json),
                uuid.UUID(context.job_id),
                TuningJobCreate.model_validate_json(context.request_json),
                self.trial_id,
                dict(config),
            )
            self.runner.start()
            self.results = self.runner.results()

        def step(self) -> dict[str, Any]:
            result = next(self.results, None)
            if result is None:  # nothing after the final result
                return {"done": True}
            return result

        def _end(self) -> None:
            self.runner.stop_early()
            self.runner.close()

        def cleanup(self) -> None:
            self._end()

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            """The actor is reused for the next trial (no new Python process per trial):
            end this trial's run as ``cleanup`` would, then start the next one's."""
            self._end()
            self._begin(new_config)
            return True

        def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
            return {}  # a trial restarts as a new run; its run keeps its own checkpoints

        def load_checkpoint(self, checkpoint: Any) -> None:
            return None

    return TrialTrainable


class TrialNotStarted(RuntimeError):
    """The job stopped before this trial could create its run."""


class TrialRunner:
    def __init__(
        self,
        settings: Settings,
        job_id: uuid.UUID,
        job: TuningJobCreate,
        trial_id: str,
        params: dict[str, Any],
    ) -> None:
        self.settings = settings
        self.job_id = job_id
        self.job = job
        self.trial_id = trial_id
        self.params = params
        self.worker_id = f"ray:{socket.gethostname()}:{os.getpid()}:{trial_id}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="trial-loop", daemon=True)
        self.engine: AsyncEngine | None = None
        self.sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self.run_id: uuid.UUID | None = None
        self.execution: Future[None] | None = None
        self.last_eval: tuple[int, float] | None = None
        # Held-out eval points (step, loss) as the executor reads them from the child.
        self.points: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()

    # --- plumbing -------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _maker(self) -> async_sessionmaker[AsyncSession]:
        assert self.sessionmaker is not None
        return self.sessionmaker

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()
        self.run_id = self._call(self._create())
        self.execution = asyncio.run_coroutine_threadsafe(
            execute_run(
                self._maker(),
                self.settings,
                self.run_id,
                worker_id=self.worker_id,
                on_metric=self._on_metric,
            ),
            self.loop,
        )
        self.execution.add_done_callback(lambda _: self.points.put(_FINISHED))

    def _on_metric(self, row: dict[str, Any]) -> None:
        if row.get("eval_loss") is not None:
            self.points.put((int(row["step"]), float(row["eval_loss"])))

    async def _create(self) -> uuid.UUID:
        self.engine = create_engine(self.settings)
        self.sessionmaker = create_sessionmaker(self.engine)
        request = service.trial_request(self.job, self.params)
        tag = {"tuning": {"job_id": str(self.job_id), "trial_id": self.trial_id}}
        async with self.sessionmaker() as session, session.begin():
            job_status = await session.scalar(select(Run.status).where(Run.id == self.job_id))
            if job_status != "running":  # cancelled (or gone) while Ray was starting it
                raise TrialNotStarted(f"tuning job {self.job_id} is {job_status}")
            # A trial run is attempted once: if its Ray worker dies, Ray (not the queue)
            # decides what happens next, so the reaper fails it instead of re-queueing.
            run = await runs.create_run(
                session,
                self.settings,
                request,
                hold_for=self.worker_id,
                max_attempts=1,
                extra_config=tag,
            )
            session.add(
                TuningTrial(
                    job_id=self.job_id,
                    trial_id=self.trial_id,
                    run_id=run.id,
                    params=self.params,
                    created_at=utcnow(),
                )
            )
        return run.id

    def results(self) -> Iterator[dict[str, Any]]:
        """Each new held-out eval loss as the child reports it, then the final result
        (``done``)."""
        assert self.execution is not None
        while (point := self.points.get()) is not _FINISHED:
            step, eval_loss = point
            if self.last_eval is None or step > self.last_eval[0]:
                self.last_eval = (step, eval_loss)
                yield {"eval_loss": eval_loss, "step": step}
        self.execution.result()  # an executor error fails the trial
        yield {**self._call(self._final(), timeout=None), "done": True}

    async def _final(self) -> dict[str, Any]:
        """Evaluate the completed run like any run; the job's metric comes from the
        evaluation, or is the last held-out eval loss."""
        assert self.run_id is not None
        async with self._maker()() as session:
            run = await runs.get_run(session, self.run_id)
        result: dict[str, Any] = {"status": run.status}
        if self.last_eval:
            result["eval_loss"] = self.last_eval[1]
        if run.status != "completed":
            await self._record(metric=None, stopped_early=False, message=run.message)
            return result
        try:
            evaluation = await evals.evaluate_run(
                self._maker(),
                self.settings,
                Slots(1),
                self.run_id,
                EvaluateRequest(judge_override=self._judges()),
            )
        except DomainError as exc:  # the trial still has its loss; say why it has no score
            message: str | None = f"evaluation failed: {exc.detail}"
            result["evaluation_error"] = message
        else:
            message = None
            result.update(evaluation.metrics)
        metric = result.get(self.job.metric)
        value = float(metric) if isinstance(metric, int | float) else None
        await self._record(metric=value, stopped_early=False, message=message)
        return result

    def _judges(self) -> list[str] | None:
        """The default judges, plus the one reporting the job's metric if missing."""
        needed = service.METRIC_JUDGES.get(self.job.metric)
        defaults = [s.strip() for s in self.settings.eval_default_judges.split(",") if s.strip()]
        if needed is None or any(s.split("@")[0] == needed for s in defaults):
            return None
        return [*defaults, needed]

    async def _record(
        self, *, metric: float | None, stopped_early: bool, message: str | None = None
    ) -> None:
        async with self._maker()() as session, session.begin():
            trial = await session.scalar(
                select(TuningTrial).where(
                    TuningTrial.job_id == self.job_id, TuningTrial.trial_id == self.trial_id
                )
            )
            if trial is not None:
                trial.metric_value = metric
                trial.stopped_early = stopped_early
                trial.message = message
                trial.ended_at = utcnow()

    def stop_early(self) -> None:
        """The trial ends while its run still trains: ASHA stopped it, or the job itself
        is stopping. Cancel the run with the reason (unless the job's cancel already did)
        and wait for the executor to stop the child."""
        if self.run_id is None or self.execution is None or self.execution.done():
            return
        stopped_here = self._call(self._cancel())
        if stopped_here:
            # Its last held-out loss is kept for the plots; the best trial is chosen among
            # the trials that finished.
            last = self.last_eval[1] if self.last_eval and self.job.metric == "eval_loss" else None
            self._call(self._record(metric=last, stopped_early=True))
        grace = self.settings.run_cancel_grace_seconds + 10.0
        with contextlib.suppress(Exception):  # the run's own status says what happened
            self.execution.result(timeout=grace)

    def _reason(self) -> str:
        at = (
            f"eval_loss {self.last_eval[1]:.4g} at step {self.last_eval[0]}"
            if self.last_eval
            else "before its first eval point"
        )
        return f"{service.STOPPED_EARLY}: {at} was behind the other trials"

    async def _cancel(self) -> bool:
        """Request the cancel. True when ASHA stopped the trial; False when the run already
        ended or is being cancelled, or the job itself is stopping."""
        assert self.run_id is not None
        async with self._maker()() as session, session.begin():
            status = await session.scalar(select(Run.status).where(Run.id == self.run_id))
            if status in TERMINAL_STATUSES or status == "cancel_requested":
                return False
            job_status = await session.scalar(select(Run.status).where(Run.id == self.job_id))
            if self.job.scheduler != "asha" or job_status != "running":
                reason = f"its tuning job stopped ({job_status})"
                await runs.cancel_run(session, self.run_id, reason=reason)
                return False
            await runs.cancel_run(session, self.run_id, reason=self._reason())
            return True

    def close(self) -> None:
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self._call(self.engine.dispose(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
