"""The embedded Ray that tuning jobs on this machine share.

Without ``TUNIX_RT_RAY_ADDRESS`` the process that executes tuning jobs (the server's
embedded worker, ``tunix-rt worker``, or the CLI running a job here) starts one local Ray
the first time a tuning job needs it and keeps it while it lives: each job's driver
joins it in a fraction of a second instead of starting and stopping a Ray of its own
(a few seconds each way on a small machine).

Ray lives in a *holder* process (``python -m tunix_rt.tuning.ray_head --parent PID``),
not in the server: the holder calls ``ray.init`` sized to the machine, prints the
cluster's address, and waits. It stops Ray — and every process of its group, which is
Ray's daemons and workers — when it is told to (SIGTERM at the owner's exit) or when its
owner dies (``kill -9``). A job's own Ray workers end with the job's driver, as in any
Ray cluster.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tunix_rt.training.protocol import emit, exit_when_orphaned, parse_event

log = logging.getLogger(__name__)

# How long ``ray.shutdown`` may take before the group is killed.
RAY_SHUTDOWN_SECONDS = 5.0
START_TIMEOUT_SECONDS = 120.0
# Trials pass only small results through the object store.
OBJECT_STORE_BYTES = 128 * 1024 * 1024


def quiet_ray_env() -> None:
    """No usage reporting, no log de-duplication, no strict per-metric checks (an
    early-stopped trial never reports the job's evaluation metric)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")


def init_local_ray(*, log_to_driver: bool) -> str:
    """Start a local Ray sized to this machine; returns its GCS address."""
    import ray

    ray.init(
        # A new Ray of our own, whatever else runs here: without an address, ray.init
        # joins the last cluster `ray start` recorded on this machine (/tmp/ray).
        address="local",
        num_cpus=os.cpu_count() or 1,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=log_to_driver,
        object_store_memory=OBJECT_STORE_BYTES,
    )
    return str(ray.get_runtime_context().gcs_address)


def shutdown_and_exit(code: int) -> None:
    """Disconnect from (or stop) Ray within a few seconds, then end every process of this
    process's group when it leads one — its own session, started so, holds nothing but
    Ray's processes — and exit."""

    def shutdown() -> None:
        import ray

        ray.shutdown()

    stopper = threading.Thread(target=shutdown, name="ray-shutdown", daemon=True)
    stopper.start()
    stopper.join(timeout=RAY_SHUTDOWN_SECONDS)
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        sys.stderr.flush()
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(code)


def hold(parent: int) -> int:
    """The holder process: start Ray, print its address, wait until told to stop."""
    quiet_ray_env()
    started = time.monotonic()
    address = init_local_ray(log_to_driver=False)
    import ray

    emit(
        "ray_head",
        address=address,
        seconds=round(time.monotonic() - started, 3),
        cpus=ray.cluster_resources().get("CPU"),  # type: ignore[no-untyped-call]
    )
    # Nothing more goes to the owner's pipe (it stops reading).
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)

    def on_signal(signum: int, frame: object) -> None:
        del frame
        threading.Thread(target=shutdown_and_exit, args=(128 + signum,), daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    exit_when_orphaned(parent, lambda: shutdown_and_exit(1), "stopping Ray")
    while True:
        time.sleep(3600)


@dataclass(frozen=True)
class HeadInfo:
    address: str
    # Ray's cluster token (Ray ≥ 2.5x authenticates every client): a fresh secret per
    # holder, handed only to the processes that join (environment), never written out.
    token: str
    seconds: float  # spent starting it for this caller; 0.0 when it was already up

    def join_env(self) -> dict[str, str]:
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}


class RayHead:
    """This process's embedded Ray (one holder at most), started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._address = ""
        self._token = ""

    def ensure(self, log_path: Path) -> HeadInfo:
        """Start the holder unless it runs. Blocking: call it in a thread from async code."""
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                return HeadInfo(self._address, self._token, 0.0)
            started = time.monotonic()
            token = secrets.token_hex(32)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("ab") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-m", __name__, "--parent", str(os.getpid())],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                    start_new_session=True,  # its group is Ray's, stopped as one
                    env={**os.environ, **HeadInfo("", token, 0.0).join_env()},
                )
            assert proc.stdout is not None
            try:
                address = _read_address(proc, proc.stdout, log_path)
            except BaseException:
                _stop(proc)
                raise
            finally:
                proc.stdout.close()
            if self._proc is None:
                atexit.register(self.stop)
            self._proc, self._address, self._token = proc, address, token
            seconds = time.monotonic() - started
            log.info("embedded Ray started in %.1f s at %s", seconds, address)
            return HeadInfo(address, token, seconds)

    def stop(self) -> None:
        with self._lock:
            if self._proc is not None:
                _stop(self._proc)
                self._proc, self._address, self._token = None, "", ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _read_address(proc: subprocess.Popen[bytes], out: IO[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    result: dict[str, str] = {}

    def read() -> None:
        for raw in out:
            event = parse_event(raw.decode("utf-8", "replace"))
            if event is not None and event.get("event") == "ray_head":
                result["address"] = str(event["address"])
                return

    reader = threading.Thread(target=read, name="ray-head-address", daemon=True)
    reader.start()
    reader.join(timeout=max(0.0, deadline - time.monotonic()))
    if "address" in result:
        return result["address"]
    tail = ""
    with contextlib.suppress(OSError):
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
    state = f"exited with {proc.poll()}" if proc.poll() is not None else "timed out"
    raise RuntimeError(f"the embedded Ray did not start ({state}): {tail}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=RAY_SHUTDOWN_SECONDS + 5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


EMBEDDED_RAY = RayHead()

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parent", type=int, required=True)
    sys.exit(hold(parser.parse_args().parent))
