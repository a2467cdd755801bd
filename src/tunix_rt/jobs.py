"""Where job kinds meet the runs domain: called once by every process that executes runs
(the app, ``tunix-rt worker``, the CLI), so ``runs`` never imports the domains above it."""

from __future__ import annotations


def register_job_kinds() -> None:
    """Register "train" (auto-evaluated when it completes), "evaluate" and "tune", and the
    webhook outbox called when any run ends."""
    from tunix_rt.evals.jobs import EVALUATE_JOB
    from tunix_rt.evals.service import enqueue_auto_evaluation
    from tunix_rt.runs.hooks import register_end_hook
    from tunix_rt.runs.jobs import TrainJob, register_job_kind
    from tunix_rt.tuning.jobs import TUNE_JOB
    from tunix_rt.webhooks.service import on_run_ended

    register_job_kind("train", TrainJob(on_trained=[enqueue_auto_evaluation]))
    register_job_kind("evaluate", EVALUATE_JOB)
    register_job_kind("tune", TUNE_JOB)
    register_end_hook(on_run_ended)  # webhooks: recorded in the transaction that ends a run
