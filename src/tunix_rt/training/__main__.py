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
