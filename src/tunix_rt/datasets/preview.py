"""Template preview: one example rendered and tokenized exactly as the trainer does it.

The trainer (tunix_rt.training.data.encode_examples) feeds ``[BOS] prompt completion
[EOS]`` cut at ``max_seq_length`` and takes the loss on the completion tokens and the EOS.
Presets train from scratch with a SentencePiece tokenizer fitted to the train split; the
preview fits the same tokenizer once per dataset and caches it under the dataset's
directory (datasets are immutable, so the cache never goes stale).
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from tunix_rt.config import Settings
from tunix_rt.datasets import formats, service
from tunix_rt.datasets.schemas import CompletionFormat, DatasetPreview, PreviewToken
from tunix_rt.datasets.service import SplitName
from tunix_rt.kit.errors import Unprocessable

TOKENIZER_DIR = "tokenizer"
_fit_lock = threading.Lock()


def dataset_tokenizer(settings: Settings, key: str) -> tuple[Any, Path]:
    """The dataset's fitted SentencePiece tokenizer (fitted on first use, then cached)."""
    from tunix_rt.training.tokenizer import MODEL_FILE, fit_tokenizer, load_tokenizer

    directory = service.dataset_dir(settings, key) / TOKENIZER_DIR
    path = directory / MODEL_FILE
    with _fit_lock:
        if not path.is_file():
            texts = (
                "".join(formats.sft_pair(record))
                for record in service.iter_split(settings, key, "train")
            )
            fit_tokenizer(texts, directory)
    return load_tokenizer(path), path


def _split_size(settings: Settings, key: str, split: SplitName) -> int:
    manifest = service.read_manifest(settings, key)
    if split == "all":
        return int(manifest["trace_count"])
    return len(manifest["splits"][split])


def preview_example(
    settings: Settings,
    key: str,
    *,
    split: SplitName,
    index: int,
    max_seq_length: int,
    completion_format: CompletionFormat = "reasoning",
) -> DatasetPreview:
    size = _split_size(settings, key, split)
    if index >= size:
        raise Unprocessable("index", f"the {split} split of {key} has {size} example(s)")
    record = next(itertools.islice(service.iter_split(settings, key, split), index, None))
    prompt, completion = formats.sft_pair(record, answer_only=completion_format == "answer_only")
    sp, path = dataset_tokenizer(settings, key)
    prompt_ids = [int(sp.bos_id()), *sp.EncodeAsIds(prompt)]
    completion_ids = [*sp.EncodeAsIds(completion), int(sp.eos_id())]
    ids = prompt_ids + completion_ids
    truncated = len(ids) > max_seq_length
    tokens = [
        PreviewToken(
            id=token,
            piece=str(sp.IdToPiece(token)),
            loss=n >= len(prompt_ids),
            truncated=n >= max_seq_length,
        )
        for n, token in enumerate(ids)
    ]
    return DatasetPreview(
        dataset_key=key,
        split=split,
        index=index,
        split_size=size,
        trace_id=record["id"],
        completion_format=completion_format,
        prompt=prompt,
        completion=completion,
        text=prompt + completion,
        char_count=len(prompt) + len(completion),
        prompt_char_count=len(prompt),
        token_count=len(ids),
        prompt_token_count=len(prompt_ids),
        completion_token_count=len(completion_ids),
        max_seq_length=max_seq_length,
        truncated=truncated,
        truncate_at_token=max_seq_length if truncated else None,
        loss_token_count=sum(1 for t in tokens if t.loss and not t.truncated),
        tokens=tokens,
        tokenizer=f"sentencepiece ({path.parent.name}/{path.name}, fitted to the train split)",
        vocab_size=int(sp.GetPieceSize()),
    )
