"""The embedded Ray a process keeps for its tuning jobs: started once, joined with its
token, stopped with every process of its group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.runs.test_executor import alive
from tests.tuning.test_lifecycle import group_members
from tunix_rt.tuning.ray_head import RayHead

JOIN = """
import ray
ray.init(address={address!r}, configure_logging=False, log_to_driver=False)
print("answer", ray.get(ray.remote(lambda: 6 * 7).remote()))
ray.shutdown()
"""


def test_one_ray_per_process_joined_with_its_token_and_stopped_as_a_group(
    tmp_path: Path,
) -> None:
    head = RayHead()
    log = tmp_path / "ray-head.log"
    first = head.ensure(log)
    try:
        assert first.seconds > 0 and first.address and len(first.token) == 64
        again = head.ensure(log)
        assert (again.address, again.token, again.seconds) == (first.address, first.token, 0.0)
        assert head.pid is not None
        group = group_members(os.getpgid(head.pid))
        assert head.pid in group and len(group) > 2  # the holder, GCS, raylet, ...

        # A driver given the address and the token joins and runs work on it.
        joined = subprocess.run(
            [sys.executable, "-c", JOIN.format(address=first.address)],
            env={**os.environ, **first.join_env()},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "answer 42" in joined.stdout, joined.stderr[-2000:]
        assert first.token not in log.read_text()  # the secret is never written out
    finally:
        head.stop()
    deadline = time.monotonic() + 15
    while any(alive(p) for p in group) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in group if alive(p)]
    assert head.pid is None
