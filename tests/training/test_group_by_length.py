"""``group_by_length``: batches of similar lengths, each padded only to its longest example
(rounded to 32), deterministic for resuming; and a real tiny run trained that way."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from tests.training.helpers import run_child, train_config, write_mixed_lengths
from tunix_rt.training.data import GROUP_ROUND, batch_indices, trimmed_length


def test_grouped_batches_are_homogeneous_deterministic_and_cover_each_epoch() -> None:
    rng = np.random.default_rng(0)
    # Two populations of lengths, like addition (~140 tokens) and multiplication (~330).
    lengths = np.where(rng.random(800) < 0.5, 140, 330) + rng.integers(0, 8, 800)
    steps = 2 * (800 // 8)  # two epochs
    grouped = list(batch_indices(800, 8, seed=3, steps=steps, lengths=lengths))
    assert len(grouped) == steps
    again = list(batch_indices(800, 8, seed=3, steps=steps, lengths=lengths))
    assert all((a == b).all() for a, b in zip(grouped, again, strict=True))
    # Each epoch holds every example once.
    for epoch in range(2):
        seen = np.concatenate(grouped[epoch * 100 : (epoch + 1) * 100])
        assert sorted(seen.tolist()) == list(range(800))
    # Almost every batch holds one population only (at most one mixed batch per
    # megabatch of 50 batches), and the order of batches is shuffled.
    mixed = sum(len({int(lengths[i]) >= 300 for i in batch}) > 1 for batch in grouped)
    assert mixed <= 4, mixed
    long_first = [bool(lengths[b[0]] >= 300) for b in grouped[:50]]
    assert 0 < sum(long_first) < 50
    # Without lengths: the same plain batches as before (ungrouped).
    plain = list(batch_indices(800, 8, seed=3, steps=steps))
    assert Counter(map(len, plain)) == {8: steps}
    assert any((a != b).any() for a, b in zip(plain, grouped, strict=True))


def test_a_grouped_batch_is_padded_to_its_longest_example_rounded_to_32() -> None:
    assert GROUP_ROUND == 32
    assert trimmed_length(np.array([10, 33, 20]), 336) == 64
    assert trimmed_length(np.array([64, 1]), 336) == 64
    assert trimmed_length(np.array([330, 335]), 336) == 336


def test_the_trainer_gets_batches_trimmed_to_their_group() -> None:
    from tunix_rt.training.data import Encoded
    from tunix_rt.training.train import batches

    lengths = np.array([40] * 64 + [300] * 64, dtype=np.int32)
    tokens = np.zeros((128, 320), dtype=np.int32)
    for row, n in enumerate(lengths):
        tokens[row, :n] = 5
    data = Encoded(
        tokens=tokens, loss_mask=tokens.copy(), lengths=lengths, seq_len=320, truncated=0
    )
    widths = Counter(b.input_tokens.shape[1] for b in batches(data, 8, 0, 16, True))
    assert widths == {64: 8, 320: 8}
    # Every kept column of a batch holds its tokens: nothing of an example is cut.
    for batch in batches(data, 8, 0, 16, True):
        kept = (batch.input_tokens != 0).sum(axis=1)
        assert set(kept.tolist()) <= {40, 300}


def test_random_batches_are_padded_to_their_own_longest_example() -> None:
    from tunix_rt.training.data import Encoded
    from tunix_rt.training.train import batches

    lengths = np.array([40] * 120 + [300] * 8, dtype=np.int32)
    tokens = np.zeros((128, 320), dtype=np.int32)
    for row, n in enumerate(lengths):
        tokens[row, :n] = 5
    data = Encoded(
        tokens=tokens, loss_mask=tokens.copy(), lengths=lengths, seq_len=320, truncated=0
    )
    widths = Counter()
    for batch in batches(data, 8, 0, 32):
        kept = (batch.input_tokens != 0).sum(axis=1)
        assert set(kept.tolist()) <= {40, 300}  # nothing of an example is cut
        widths[batch.input_tokens.shape[1]] += 1
        assert batch.input_tokens.shape[1] == (320 if kept.max() == 300 else 64)
    assert widths[64] > 0 and widths[320] > 0


def test_a_run_grouped_by_length_trains(tmp_path: Path) -> None:
    # Mixed lengths: 1-digit addition and 2-digit multiplication with their steps.
    train = write_mixed_lengths(tmp_path / "train.jsonl")
    out = tmp_path / "run"
    config = train_config(
        out, train, max_steps=6, batch_size=8, max_seq_length=512, group_by_length=True
    )
    result = run_child(config, tmp_path / "config.json")
    assert result.returncode == 0, result.stderr[-3000:]
    done = result.of("done")[-1]
    assert done["final_step"] == 6
    assert done["final_loss"] < done["first_loss"]
