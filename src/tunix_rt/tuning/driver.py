"""The tuning job's child process: the Ray Tune driver.

Started by the ``tune`` job kind like any run's child (own log, lease, cancel, timeout):

1. marks trial runs an earlier attempt left unfinished as failed (they died with that
   attempt's Ray) and counts the trials that did finish: a restarted job runs only the
   remaining ones, and an ``optuna`` search is seeded with the finished trials' results;
2. joins Ray: ``TUNIX_RT_RAY_ADDRESS``'s cluster, or the embedded Ray (sized to this
   machine) that the process executing the job keeps for all its tuning jobs
   (``ray_head``), or starts one of its own if that cannot be joined;
3. runs ``Tuner.fit`` with Ray Tune's search (``BasicVariantGenerator`` or
   ``OptunaSearch``) and scheduler (FIFO or ``ASHAScheduler`` on the held-out eval loss);
   each trial is ``trial.run_trial`` — an ordinary run executed in the Ray worker.

It prints human lines and ``@tunix_rt`` events (``ray_started``, ``trial_result``,
``tuning_done``) on stdout, which the executor stores as the job's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.training.protocol import emit, exit_when_orphaned, say
from tunix_rt.tuning import service
from tunix_rt.tuning.ray_head import init_local_ray, quiet_ray_env, shutdown_and_exit
from tunix_rt.tuning.schemas import ChoiceParam, TuningJobCreate
from tunix_rt.tuning.trial import TrialContext, trainable

SETTINGS_ENV = "TUNIX_RT_DRIVER_SETTINGS"
CONFIG_FILE = "tune_config.json"
# ASHA rungs are counted in reported eval points: the first comparison happens at the
# first held-out eval, then at 2, 4, 8, ... (reduction factor 2).
ASHA_GRACE = 1
ASHA_REDUCTION = 2
ASHA_MAX_T = 100_000
# The address of the embedded Ray this job's executor keeps (``ray_head``), and how long
# the executor spent starting it for this job (0 when it was already up).
HEAD_ADDRESS_ENV = "TUNIX_RT_RAY_HEAD_ADDRESS"
HEAD_SECONDS_ENV = "TUNIX_RT_RAY_HEAD_SECONDS"


def search_space(request: TuningJobCreate) -> dict[str, Any]:
    from ray import tune

    space: dict[str, Any] = {}
    for name, param in request.search_space.items():
        if isinstance(param, ChoiceParam):
            space[name] = tune.choice(param.values)
        elif param.type == "uniform":
            space[name] = tune.uniform(param.min, param.max)
        elif param.type == "loguniform":
            space[name] = tune.loguniform(param.min, param.max)
        elif param.type == "randint":
            space[name] = tune.randint(int(param.min), int(param.max))
        else:
            assert param.q is not None
            space[name] = tune.quniform(param.min, param.max, param.q)
    return space


def start_ray(settings: Settings) -> tuple[float, str]:
    """Join the configured cluster, or the embedded Ray of the process that runs this job
    (``ray_head``), or — when there is none or it cannot be joined — start a Ray of this
    driver's own sized to the machine. Returns (seconds, where)."""
    import ray

    started = time.monotonic()
    if settings.ray_address:
        ray.init(address=settings.ray_address, configure_logging=False, log_to_driver=True)
        return time.monotonic() - started, settings.ray_address
    shared = os.environ.get(HEAD_ADDRESS_ENV, "")
    if shared:
        try:
            ray.init(address=shared, configure_logging=False, log_to_driver=True)
            return time.monotonic() - started, f"embedded, shared at {shared}"
        except Exception as exc:  # any failure to join: start one instead
            say(f"could not join the embedded Ray at {shared} ({exc}); starting one")
            ray.shutdown()
    init_local_ray(log_to_driver=True)
    return time.monotonic() - started, "embedded, this job's own"


# How long a cancelled driver waits for its trials' runs to end (their executors, in the
# Ray workers, stop the training children) before stopping Ray.
TRIALS_STOP_SECONDS = 15.0
_current: dict[str, Any] = {}  # the job this driver runs, for the signal handler


def _on_sigterm(signum: int, frame: object) -> None:
    """Cancel: the API already marked the trial runs cancelled; their executors stop the
    children. Wait until the runs have ended (so they are recorded ``cancelled``), then
    stop Ray."""
    del frame
    say(f"received signal {signum}: stopping the trials")
    threading.Thread(target=_exit_when_trials_ended, args=(128 + signum,), daemon=True).start()


def _exit_when_trials_ended(code: int) -> None:
    settings: Settings | None = _current.get("settings")
    job_id: uuid.UUID | None = _current.get("job_id")
    if settings is not None and job_id is not None:
        deadline = time.monotonic() + settings.run_cancel_grace_seconds + TRIALS_STOP_SECONDS - 2
        with contextlib.suppress(Exception):  # the exit below happens whatever went wrong
            while time.monotonic() < deadline and asyncio.run(_unfinished(settings, job_id)):
                time.sleep(0.2)
    shutdown_and_exit(code)


async def _unfinished(settings: Settings, job_id: uuid.UUID) -> int:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await service.unfinished_trial_runs(session, job_id)
    finally:
        await engine.dispose()


async def _resume_state(
    settings: Settings, job_id: uuid.UUID
) -> tuple[int, int, list[tuple[dict[str, Any], float]]]:
    """(attempt, trials already finished, their (params, metric) results)."""
    engine = create_engine(settings)
    try:
        maker = create_sessionmaker(engine)
        async with maker() as session, session.begin():
            job = await service.get_job(session, job_id)
            interrupted = await service.interrupt_leftover_trials(session, job_id)
            if interrupted:
                say(f"{interrupted} trial run(s) of an earlier attempt marked failed")
            finished = await service.finished_trials(session, job_id)
            results = [
                (t.params, t.metric_value)
                for t in finished
                if t.metric_value is not None and not t.stopped_early
            ]
            return job.attempt, len(finished), [(p, float(v)) for p, v in results]
    finally:
        await engine.dispose()


def run(config_path: Path, prepare_process: Callable[[], None]) -> int:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.basic_variant import BasicVariantGenerator

    config = json.loads(config_path.read_text(encoding="utf-8"))
    job_id = uuid.UUID(config["job_id"])
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    request = TuningJobCreate.model_validate(config["request"])
    prepare_process()
    _current.update(settings=settings, job_id=job_id)
    signal.signal(signal.SIGTERM, _on_sigterm)
    exit_when_orphaned(os.getppid(), lambda: shutdown_and_exit(1), "stopping Ray")

    attempt, done, results = asyncio.run(_resume_state(settings, job_id))
    remaining = request.num_trials - done
    say(f"tuning job {job_id}: {request.num_trials} trial(s), {done} finished, {remaining} to run")
    if remaining <= 0:
        emit("tuning_done", trials=done)
        return 0

    joined, where = start_ray(settings)
    # ray.init replaces the SIGTERM handler with its own (exit at once, leaving the
    # trials' runs to die with the job's Ray workers): put ours back.
    signal.signal(signal.SIGTERM, _on_sigterm)
    head = float(os.environ.get(HEAD_SECONDS_ENV) or 0.0)
    import ray

    # seconds: what Ray's start cost this job — starting the shared Ray (when this job
    # was the first to need it) plus joining it, or starting its own.
    emit(
        "ray_started",
        seconds=round(head + joined, 3),
        head_seconds=round(head, 3),
        join_seconds=round(joined, 3),
        address=where,
        cpus=ray.cluster_resources().get("CPU"),  # type: ignore[no-untyped-call]
    )
    say(f"Ray ready in {head + joined:.1f} s ({where})")

    seed = None if request.seed is None else request.seed + attempt
    if request.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        searcher: Any = ConcurrencyLimiter(
            OptunaSearch(
                metric=request.metric,
                mode=request.mode,
                seed=seed,
                points_to_evaluate=[p for p, _ in results] or None,
                evaluated_rewards=[v for _, v in results] or None,
            ),
            max_concurrent=request.max_concurrent,
        )
    else:
        searcher = BasicVariantGenerator(random_state=seed, max_concurrent=request.max_concurrent)
    scheduler: Any = (
        ASHAScheduler(
            metric="eval_loss",
            mode="min",
            time_attr="training_iteration",
            grace_period=ASHA_GRACE,
            reduction_factor=ASHA_REDUCTION,
            max_t=ASHA_MAX_T,
        )
        if request.scheduler == "asha"
        else FIFOScheduler()  # type: ignore[no-untyped-call]
    )
    context = TrialContext(
        settings_json=settings.model_dump_json(),
        job_id=str(job_id),
        request_json=request.model_dump_json(),
        prepare_process=prepare_process,
    )
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable(), context=context), {"cpu": 1}),
        param_space=search_space(request),
        tune_config=tune.TuneConfig(
            num_samples=remaining,  # at most max_concurrent at once: set on the searcher
            search_alg=searcher,
            scheduler=scheduler,
            # One Ray worker process serves trial after trial (TrialTrainable.reset_config)
            # instead of a new process importing Ray Tune and Tunix RT for each.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"attempt-{attempt}",
            storage_path=str(config_path.parent / "ray"),
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(
                checkpoint_frequency=0, checkpoint_at_end=False
            ),
        ),
    )
    grid = tuner.fit()
    failed = 0
    for index in range(len(grid)):
        result = grid[index]
        metrics = result.metrics or {}
        if result.error is not None:
            failed += 1
            say(f"trial {metrics.get('trial_id', '?')} failed: {result.error}")
        emit(
            "trial_result",
            trial_id=metrics.get("trial_id"),
            params=result.config,
            metric=metrics.get(request.metric),
            eval_loss=metrics.get("eval_loss"),
            evaluation_error=metrics.get("evaluation_error"),
        )
    emit("tuning_done", trials=done + len(grid), failed=failed)
    ray.shutdown()
    if grid and failed == len(grid) and done == 0:  # nothing to choose the best from
        first = next((grid[i].error for i in range(len(grid)) if grid[i].error), None)
        sys.stderr.write(f"error: every trial failed; the first: {first}\n")
        sys.stderr.flush()
        return 1
    return 0


def main(config_path: Path, prepare_process: Callable[[], None]) -> int:
    quiet_ray_env()
    return run(config_path, prepare_process)
