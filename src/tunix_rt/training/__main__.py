"""``python -m tunix_rt.training --config FILE``: the training/generation child process.

Exit codes: 0 ok; 2 invalid config, data or model (one ``error: ...`` line on stderr);
143 after SIGTERM; anything else is a crash (traceback on stderr).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from types import FrameType

from tunix_rt.training.protocol import exit_when_orphaned


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del frame
    sys.stdout.write(f"received signal {signum}, stopping\n")
    sys.stdout.flush()
    os._exit(128 + signum)


def _fail(message: str) -> int:
    sys.stderr.write("error: " + " ".join(message.split()) + "\n")
    sys.stderr.flush()
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunix_rt.training")
    parser.add_argument("--config", required=True, help="JSON config file (docs/training.md)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # If the worker vanishes, the reaper re-queues the run and a new attempt resumes in the
    # same directory, so an orphan must not keep training and writing there.
    exit_when_orphaned(os.getppid(), lambda: os._exit(1))
    # Quiet, CPU-only, no progress bars: the parent streams stdout line by line.
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from tunix_rt.training.config import ConfigError, ExportConfig, GenerateConfig, load_config
    from tunix_rt.training.protocol import emit, say

    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        if isinstance(cfg, GenerateConfig):
            say(f"task generate: {cfg.input_file} -> {cfg.output_file}")
            cpu_replicas(cfg.batch_size)
            _quiet_logs()
            from tunix_rt.training.generate import run_generate

            summary = run_generate(cfg)
            emit("done", task="generate", **summary)
            say(f"done: {summary['count']} outputs in {summary['generate_seconds']}s")
            return 0
        if isinstance(cfg, ExportConfig):
            say(f"task export: {cfg.run_dir} -> {cfg.out_dir}")
            _quiet_logs()
            from pathlib import Path

            from tunix_rt.training.hf_format import ExportError, export_run

            try:
                result = export_run(Path(cfg.run_dir), Path(cfg.out_dir))
            except ExportError as exc:
                return _fail(str(exc))
            emit("done", task="export", **result)
            return 0
        say(f"task {cfg.task}: run {cfg.run_id}, model {cfg.model_id}, {cfg.algorithm}")
        # Each algorithm's stage module: prepare (jax-free), dry-run report, train (jax).
        if cfg.algorithm == "grpo":
            from tunix_rt.training import grpo_prepare as stage
        else:
            from tunix_rt.training import prepare as stage  # type: ignore[no-redef]
        prep = stage.prepare(cfg)
        stage.write_resolved_config(prep)
        if cfg.task == "dry_run":
            report = stage.dry_run_report(prep)
            emit("dry_run", **report)
            say(stage.dry_run_summary(report))
            emit("done", task="dry_run", final_step=0)
            return 0
        if cfg.algorithm == "sft":
            cpu_replicas(cfg.batch_size)
        _quiet_logs()
        summary = stage.train(prep)
        emit("done", task="train", **summary)
        say(stage.done_summary(summary, prep))
        return 0
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        return 1


REPLICAS_ENV = "TUNIX_RT_CPU_REPLICAS"


def cpu_replicas(batch_size: int) -> int:
    """SFT on the CPU trains one data-parallel replica per core (each takes a slice of
    every batch; ``train.run_train`` shards over them), and generation decodes a slice of
    every greedy batch on each (``decode.GemmaDecoder``): XLA's own threading of these
    small matrices keeps a second core busy without making a step faster. Up to
    ``TUNIX_RT_CPU_REPLICAS`` replicas (default: the cores this process may use, at most
    8; 1 turns it off), the most that divide ``batch_size``. Must run before jax is
    imported; returns the count set (1 = unchanged)."""
    if os.environ.get("JAX_PLATFORMS") != "cpu" or "jax" in sys.modules:
        return 1
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return 1
    count = replica_count(
        batch_size, len(os.sched_getaffinity(0)), os.environ.get(REPLICAS_ENV, "")
    )
    if count > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return count


def replica_count(batch_size: int, cores: int, wanted: str = "") -> int:
    """The most replicas up to ``wanted`` (else the cores, at most 8) that divide the batch."""
    wanted = wanted.strip()
    limit = int(wanted) if wanted.isdigit() and int(wanted) > 0 else min(cores, 8)
    return max(n for n in range(1, limit + 1) if batch_size % n == 0)


def _quiet_logs() -> None:
    import logging

    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)
    except ImportError:
        pass
    logging.getLogger("jax").setLevel(logging.WARNING)
    logging.getLogger("orbax").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
