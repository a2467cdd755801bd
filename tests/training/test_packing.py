"""``packing``: whole examples laid end to end in rows of ``max_seq_length`` tokens, each
attending only to itself with positions restarting at 0 — the same loss per token as the
examples trained one per row, less compute on padding; and a real tiny run trained so."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.training.helpers import run_child, train_config, write_mixed_lengths
from tunix_rt.training.data import (
    Encoded,
    pack_rows,
    packed_batches,
    packed_steps_per_epoch,
)


def _encoded(lengths: list[int], seq_len: int) -> Encoded:
    n = len(lengths)
    tokens = np.zeros((n, seq_len), dtype=np.int32)
    mask = np.zeros((n, seq_len), dtype=np.int32)
    for row, length in enumerate(lengths):
        tokens[row, :length] = 10 + row  # each example's own token: segments are traceable
        mask[row, 2:length] = 1
    return Encoded(
        tokens=tokens,
        loss_mask=mask,
        lengths=np.asarray(lengths, dtype=np.int32),
        seq_len=seq_len,
        truncated=0,
    )


def test_rows_hold_every_example_once_and_never_overflow() -> None:
    rng = np.random.default_rng(0)
    # The mixed suite's shape: short (+, -) and long (×) examples.
    lengths = rng.choice([119, 136, 216], size=600) + rng.integers(0, 4, 600)
    rows = pack_rows(lengths, rng.permutation(600), 256)
    assert sorted(i for row in rows for i in row) == list(range(600))
    used = [int(lengths[row].sum()) for row in rows]
    assert max(used) <= 256
    # Best fit pairs the short ones: far fewer rows than examples, and most rows full.
    assert len(rows) < 0.8 * 600
    assert sum(used) / (256 * len(rows)) > 0.8
    # An example longer than a row (already cut by the encoder) fills one alone.
    assert pack_rows(np.array([300, 10]), np.array([0, 1]), 256) == [[0], [1]]


def test_packed_batches_are_deterministic_and_lay_examples_end_to_end() -> None:
    lengths = [30, 50, 70, 90, 20, 60, 40, 80] * 4
    data = _encoded(lengths, seq_len=96)
    first = list(packed_batches(data, batch_size=4, seed=7, steps=6, row_len=128))
    again = list(packed_batches(data, batch_size=4, seed=7, steps=6, row_len=128))
    assert len(first) == 6
    for a, b in zip(first, again, strict=True):
        assert (a.tokens == b.tokens).all() and (a.segment_ids == b.segment_ids).all()
    seen: list[int] = []
    for batch in first[: packed_steps_per_epoch(data, 4, 7, 128)]:
        assert batch.tokens.shape == (4, 128)
        for r in range(4):
            segments = batch.segment_ids[r]
            for segment in range(1, int(segments.max()) + 1):
                where = np.flatnonzero(segments == segment)
                # one contiguous example: its own tokens, its own loss mask, in order
                assert (np.diff(where) == 1).all()
                example = int(batch.tokens[r, where[0]]) - 10
                assert len(where) == lengths[example]
                assert (batch.tokens[r, where] == 10 + example).all()
                assert (batch.loss_mask[r, where] == data.loss_mask[example, : len(where)]).all()
                seen.append(example)
            assert (batch.tokens[r][segments == 0] == 0).all()
    # The first epoch's full batches hold distinct examples.
    assert len(seen) == len(set(seen))


def test_a_packed_row_gives_each_example_the_loss_it_has_alone() -> None:
    import jax.numpy as jnp
    from tunix.sft import peft_trainer

    from tunix_rt.training import model as model_lib
    from tunix_rt.training.presets import PRESETS
    from tunix_rt.training.train import PackedInput, gen_model_input

    model = model_lib.build_from_scratch(PRESETS["tunix-rt/tiny-gemma"].arch(64), seed=3)
    rng = np.random.default_rng(1)
    examples = [rng.integers(4, 64, n).astype(np.int32) for n in (11, 7, 13)]

    def log_probs(inputs: dict) -> np.ndarray:
        logits, _ = model(
            inputs["input_tokens"], inputs["positions"], None, inputs["attention_mask"]
        )
        lp = jnp.take_along_axis(
            jnp.asarray(logits[:, :-1]).astype(jnp.float32),
            jnp.asarray(inputs["input_tokens"])[:, 1:, None],
            axis=-1,
        )[..., 0] - jnp.log(jnp.exp(logits[:, :-1]).sum(-1))
        return np.asarray(lp)

    alone = []
    for ex in examples:
        tokens = np.zeros((1, 32), dtype=np.int32)
        tokens[0, : len(ex)] = ex
        inputs = gen_model_input(
            peft_trainer.TrainingInput(input_tokens=tokens, input_mask=np.ones_like(tokens))
        )
        alone.append(log_probs(inputs)[0, : len(ex) - 1])
    row = np.zeros((1, 40), dtype=np.int32)
    segments = np.zeros((1, 40), dtype=np.int32)
    at = 0
    for n, ex in enumerate(examples, start=1):
        row[0, at : at + len(ex)] = ex
        segments[0, at : at + len(ex)] = n
        at += len(ex)
    packed_inputs = gen_model_input(
        PackedInput(input_tokens=row, input_mask=np.ones_like(row), segment_ids=segments)
    )
    assert np.asarray(packed_inputs["positions"])[0, :12].tolist() == [*range(11), 0]
    packed = log_probs(packed_inputs)[0]
    at = 0
    for ex, expected in zip(examples, alone, strict=True):
        np.testing.assert_allclose(packed[at : at + len(ex) - 1], expected, atol=1e-4)
        at += len(ex)


def test_a_packed_run_trains(tmp_path: Path) -> None:
    train = write_mixed_lengths(tmp_path / "train.jsonl")
    dry = train_config(
        tmp_path / "dry", train, batch_size=4, max_seq_length=512, packing=True, num_epochs=1
    )
    dry["task"] = "dry_run"
    report = run_child(dry, tmp_path / "dry.json").of("dry_run")[-1]
    # 128 examples in rows of 512 tokens: far fewer steps per epoch than 128 / 4.
    assert report["packing"] is True and report["steps_per_epoch"] < 128 // 4 // 2
    out = tmp_path / "run"
    config = train_config(out, train, max_steps=6, batch_size=4, max_seq_length=512, packing=True)
    result = run_child(config, tmp_path / "config.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "packed" in result.stdout
    done = result.of("done")[-1]
    assert done["final_step"] == 6
    assert done["final_loss"] < done["first_loss"]
