"""SFT on the CPU trains one data-parallel replica per core (``TUNIX_RT_CPU_REPLICAS``):
the same losses as one device, a checkpoint that resumes, and the replica count chosen to
divide the batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.helpers import generate_config, run_child, train_config, write_arithmetic


def _run(tmp_path: Path, name: str, replicas: str, **overrides: object) -> dict:
    train = tmp_path / "train.jsonl"
    if not train.exists():
        write_arithmetic(train, 64, seed=5)
    config = train_config(tmp_path / name, train, **{"max_steps": 8, "batch_size": 8, **overrides})
    result = run_child(config, tmp_path / f"{name}.json", env={"TUNIX_RT_CPU_REPLICAS": replicas})
    assert result.returncode == 0, result.stderr[-3000:]
    done = result.of("done")[-1]
    return {"done": done, "stdout": result.stdout, "losses": losses(result)}


def losses(result: object) -> list[float]:
    return [e["loss"] for e in result.of("metric") if e.get("loss") is not None]  # type: ignore[attr-defined]


def test_two_replicas_train_like_one_device(tmp_path: Path) -> None:
    one = _run(tmp_path, "one", "1")
    two = _run(tmp_path, "two", "2")
    assert "data parallel" not in one["stdout"]
    assert "data parallel over 2 cpu devices" in two["stdout"]
    # Same data, same init: the same losses up to the order of the sums.
    assert len(one["losses"]) == len(two["losses"]) > 0
    for a, b in zip(one["losses"], two["losses"], strict=True):
        assert abs(a - b) < 1e-3 * max(1.0, abs(a)), (one["losses"], two["losses"])
    assert two["done"]["final_step"] == 8
    # The saved model holds no devices: a one-device child generates from it.
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "p", "prompt": "What is 12 + 34?"}) + "\n")
    result = run_child(
        generate_config(tmp_path / "two", prompts, tmp_path / "out.jsonl", max_new_tokens=8),
        tmp_path / "generate.json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1


def test_generation_splits_greedy_batches_across_the_cpu_devices(tmp_path: Path) -> None:
    """A batch of 4 on two devices is two batches of 2, one per device, at once: every
    output is exactly what one device gives for the same batch of 2."""
    _run(tmp_path, "run", "1")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps({"id": str(i), "prompt": f"What is {10 + i} + {30 + 2 * i}?"}) + "\n"
            for i in range(8)
        )
    )
    outputs = {}
    for name, replicas, batch in (("split", "2", 4), ("alone", "1", 2)):
        out = tmp_path / f"{name}.jsonl"
        result = run_child(
            generate_config(tmp_path / "run", prompts, out, max_new_tokens=12, batch_size=batch),
            tmp_path / f"{name}.json",
            env={"TUNIX_RT_CPU_REPLICAS": replicas},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        split = "greedy batches split across 2 cpu devices" in result.stdout
        assert split == (name == "split"), result.stdout[-2000:]
        outputs[name] = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(outputs["split"]) == 8
    assert outputs["split"] == outputs["alone"]


def test_a_replicated_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    first = _run(tmp_path, "run", "2", max_steps=4, checkpoint_every=4)
    assert first["done"]["final_step"] == 4
    again = _run(tmp_path, "run", "2", max_steps=8, checkpoint_every=4)
    assert "resumed from checkpoint at step 4" in again["stdout"]
    assert again["done"]["final_step"] == 8


@pytest.mark.parametrize(
    ("batch", "cores", "wanted", "expected"),
    [(8, 2, "", 2), (9, 2, "", 1), (6, 4, "", 3), (8, 2, "1", 1), (8, 16, "", 8), (8, 2, "4", 4)],
)
def test_the_replica_count_divides_the_batch(
    batch: int, cores: int, wanted: str, expected: int
) -> None:
    from tunix_rt.training.__main__ import replica_count

    assert replica_count(batch, cores, wanted) == expected
