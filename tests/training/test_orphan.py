"""The training child stops by itself when its supervising worker is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie reaped by init disappears quickly; treat a zombie as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_child_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    # A FIFO as the config keeps the child blocked after start-up, like a long training.
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    pid_file = tmp_path / "child.pid"
    supervisor = subprocess.Popen(
        [
            "bash",
            "-c",
            f'"{sys.executable}" -m tunix_rt.training --config "{fifo}" & '
            f'echo $! > "{pid_file}"; sleep 600',
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline, "child did not start"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    time.sleep(1.0)  # let the child install its watcher
    assert _alive(child)

    supervisor.send_signal(signal.SIGKILL)  # like `kill -9` of a worker
    supervisor.wait()
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = _alive(child)
    if alive:
        os.kill(child, signal.SIGKILL)
    assert not alive, "the orphaned training child kept running"
