"""Training data: JSONL reading, tokenization with the completion-only loss mask, and the
deterministic batch iterator (numpy only, jax-free)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tunix_rt.training.config import ConfigError
from tunix_rt.training.tokenizer import END_OF_TURN


@dataclass
class Example:
    id: str
    prompt: str
    completion: str


@dataclass
class Encoded:
    """Fixed-length arrays: tokens (pad 0) and a mask that is 1 on the completion tokens and
    the final EOS (Tunix's default loss uses ``input_mask[:, 1:]`` as the target mask)."""

    tokens: np.ndarray  # int32 [N, L]
    loss_mask: np.ndarray  # int32 [N, L]
    lengths: np.ndarray  # int32 [N], untruncated
    seq_len: int
    truncated: int

    @property
    def real_tokens(self) -> int:
        return int((self.tokens != 0).sum())


def read_rows(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank JSONL line; ``ConfigError`` names a
    missing file or a line that is not a JSON object."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"data file not found: {path}")
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: each line must be a JSON object")
            yield number, row


def read_examples(path: str, *, require_completion: bool = True) -> list[Example]:
    """Read ``{"id","prompt","completion"}`` lines; ``ConfigError`` names the bad line."""
    examples: list[Example] = []
    for number, row in read_rows(path):
        prompt = row.get("prompt")
        completion = row.get("completion", "")
        if not isinstance(prompt, str) or not prompt:
            raise ConfigError(f"{path}:{number}: 'prompt' must be a non-empty string")
        if require_completion and (not isinstance(completion, str) or not completion):
            raise ConfigError(f"{path}:{number}: 'completion' must be a non-empty string")
        examples.append(
            Example(id=str(row.get("id", number)), prompt=prompt, completion=completion or "")
        )
    if not examples:
        raise ConfigError(f"data file {path} holds no examples")
    return examples


def training_texts(examples: list[Example]) -> Iterator[str]:
    for example in examples:
        yield example.prompt + example.completion


def encode_examples(
    examples: list[Example], sp: Any, max_seq_length: int, *, multiple: int = 8
) -> Encoded:
    """``[BOS] prompt completion [EOS]``, truncated to ``max_seq_length``, padded to the
    longest (rounded up to ``multiple``) so every batch has one shape (one compile)."""
    bos, eos = int(sp.bos_id()), int(sp.eos_id())
    rows: list[tuple[list[int], int]] = []
    lengths: list[int] = []
    for example in examples:
        prompt_ids = [bos, *sp.EncodeAsIds(example.prompt)]
        ids = [*prompt_ids, *sp.EncodeAsIds(example.completion), eos]
        lengths.append(len(ids))
        rows.append((ids, len(prompt_ids)))
    longest = min(max(lengths), max_seq_length)
    seq_len = min(max_seq_length, -(-longest // multiple) * multiple)
    tokens = np.zeros((len(rows), seq_len), dtype=np.int32)
    mask = np.zeros((len(rows), seq_len), dtype=np.int32)
    truncated = 0
    for n, (ids, prompt_len) in enumerate(rows):
        if len(ids) > seq_len:
            truncated += 1
            ids = ids[:seq_len]
        tokens[n, : len(ids)] = ids
        mask[n, prompt_len : len(ids)] = 1
    return Encoded(
        tokens=tokens,
        loss_mask=mask,
        lengths=np.asarray(lengths, dtype=np.int32),
        seq_len=seq_len,
        truncated=truncated,
    )


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return max(1, n_examples // batch_size)


def total_steps(n_examples: int, batch_size: int, num_epochs: int, max_steps: int | None) -> int:
    """``max_steps`` when given (cycling epochs as needed), else whole epochs of full batches."""
    if max_steps is not None:
        return max_steps
    return num_epochs * steps_per_epoch(n_examples, batch_size)


# Batches grouped by length are formed within "megabatches" of this many batches of a
# shuffled epoch (sorted by length there), then the epoch's batches are shuffled: similar
# lengths in a batch, random order of batches, every example once per epoch.
GROUP_BATCHES = 50
GROUP_ROUND = 32  # a grouped batch's length is rounded up to this (few compiled shapes)


def batch_indices(
    n_examples: int,
    batch_size: int,
    seed: int,
    steps: int,
    lengths: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Deterministic batches: one seeded permutation per epoch, full batches only (a data
    set smaller than a batch is repeated). The same arguments give the same sequence, which
    resuming from a checkpoint relies on (the trainer skips the batches already trained).
    With ``lengths``, each epoch's batches group examples of similar length."""
    per_epoch = steps_per_epoch(n_examples, batch_size)
    produced = 0
    epoch = 0
    while produced < steps:
        rng = np.random.default_rng([seed & 0xFFFFFFFF, epoch])
        order = rng.permutation(n_examples)
        if n_examples < batch_size:
            order = np.resize(order, batch_size)
        epoch_batches = (
            _grouped(order[: per_epoch * batch_size], lengths, batch_size, rng)
            if lengths is not None
            else [order[b * batch_size : (b + 1) * batch_size] for b in range(per_epoch)]
        )
        for batch in epoch_batches:
            if produced >= steps:
                return
            yield batch
            produced += 1
        epoch += 1


def _grouped(
    order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    span = batch_size * GROUP_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def pack_rows(lengths: np.ndarray, order: np.ndarray, row_len: int) -> list[list[int]]:
    """Whole examples (taken in ``order``) packed into rows of at most ``row_len`` tokens,
    best fit: each example goes to the open row it fills most tightly, else a new row.
    Deterministic for the same arguments; no example is split or dropped (one longer than
    a row, already cut to ``row_len`` by the encoder, fills a row alone)."""
    rows: list[list[int]] = []
    # by_space[r]: rows with exactly r free tokens (r > 0); best fit = smallest r >= length
    by_space: list[list[int]] = [[] for _ in range(row_len + 1)]
    for index in order.tolist():
        need = min(int(lengths[index]), row_len)
        for space in range(need, row_len + 1):
            if by_space[space]:
                row = by_space[space].pop()
                break
        else:
            row, space = len(rows), row_len
            rows.append([])
        rows[row].append(index)
        if space - need > 0:
            by_space[space - need].append(row)
    return rows


@dataclass
class PackedBatch:
    """Rows of whole examples laid end to end: ``segment_ids`` numbers the examples of a
    row from 1 (0 = padding); attention and positions stay within a segment."""

    tokens: np.ndarray  # int32 [B, W]
    loss_mask: np.ndarray  # int32 [B, W]
    segment_ids: np.ndarray  # int32 [B, W]


def stored_lengths(data: Encoded) -> np.ndarray:
    """Each example's tokens as encoded (after truncation to ``data.seq_len``)."""
    lengths: np.ndarray = np.minimum(data.lengths, data.seq_len)
    return lengths


def packed_epoch_rows(data: Encoded, seed: int, epoch: int, row_len: int) -> list[list[int]]:
    """One epoch's packed rows in a seeded random order (the same for the same arguments)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, epoch])
    rows = pack_rows(stored_lengths(data), rng.permutation(len(data.tokens)), row_len)
    return [rows[i] for i in rng.permutation(len(rows))]


def packed_steps_per_epoch(data: Encoded, batch_size: int, seed: int, row_len: int) -> int:
    return max(1, len(packed_epoch_rows(data, seed, 0, row_len)) // batch_size)


def packed_batches(
    data: Encoded, batch_size: int, seed: int, steps: int, row_len: int
) -> Iterator[PackedBatch]:
    """``steps`` batches of ``batch_size`` rows of up to ``row_len`` tokens, each batch
    trimmed to its fullest row rounded up to 32; epochs repeat as needed, full batches
    only, deterministic for resuming like ``batch_indices``."""
    lengths = stored_lengths(data)
    produced, epoch = 0, 0
    while produced < steps:
        rows = packed_epoch_rows(data, seed, epoch, row_len)
        if len(rows) < batch_size:
            rows = [rows[i % len(rows)] for i in range(batch_size)]
        for b in range(len(rows) // batch_size):
            if produced >= steps:
                return
            yield _packed_batch(data, lengths, rows[b * batch_size : (b + 1) * batch_size], row_len)
            produced += 1
        epoch += 1


def _packed_batch(
    data: Encoded, lengths: np.ndarray, rows: list[list[int]], row_len: int
) -> PackedBatch:
    used = [int(lengths[row].sum()) for row in rows]
    width = min(row_len, -(-max(used) // GROUP_ROUND) * GROUP_ROUND)
    tokens = np.zeros((len(rows), width), dtype=np.int32)
    mask = np.zeros((len(rows), width), dtype=np.int32)
    segments = np.zeros((len(rows), width), dtype=np.int32)
    for r, row in enumerate(rows):
        at = 0
        for segment, index in enumerate(row, start=1):
            n = int(lengths[index])
            tokens[r, at : at + n] = data.tokens[index, :n]
            mask[r, at : at + n] = data.loss_mask[index, :n]
            segments[r, at : at + n] = segment
            at += n
    return PackedBatch(tokens=tokens, loss_mask=mask, segment_ids=segments)


def trimmed_length(lengths: np.ndarray, seq_len: int) -> int:
    """The padded length of a grouped batch whose examples have ``lengths``."""
    longest = int(lengths.max()) if len(lengths) else seq_len
    return min(seq_len, -(-longest // GROUP_ROUND) * GROUP_ROUND)


def cut_at_end_of_turn(text: str) -> str:
    index = text.find(END_OF_TURN)
    return text if index < 0 else text[:index]
