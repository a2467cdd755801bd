"""SentencePiece tokenizers fitted to a run's training text (jax-free).

Settings follow what Tunix needs (docs/training.md): pad 0, eos 1, bos 2, unk 3 (a BOS
of 0 is silently dropped by Tunix's sampler), digits split one per token, no dummy
prefix (so prompt + completion tokenizes exactly like their concatenation), whitespace
kept as is, newline and the Gemma turn markers as user-defined symbols, byte fallback
for characters the training text never had. Fitting is deterministic for the same texts.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PAD_ID, EOS_ID, BOS_ID, UNK_ID = 0, 1, 2, 3
START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
USER_SYMBOLS = (START_OF_TURN, END_OF_TURN, "\n")
DEFAULT_VOCAB_SIZE = 512
MODEL_FILE = "tokenizer.model"


class TokenizerError(ValueError):
    """The tokenizer cannot be fitted or loaded; the message says why."""


def fit_tokenizer(
    texts: Iterable[str],
    out_dir: str | os.PathLike[str],
    *,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    max_sentences: int = 200_000,
) -> Path:
    """Fit a SentencePiece model to ``texts`` and write ``out_dir/tokenizer.model``.

    ``vocab_size`` is an upper bound (small corpora give fewer pieces). Returns the path.
    """
    import sentencepiece as spm

    sentences: list[str] = []
    for text in texts:
        if text:
            sentences.append(text)
        if len(sentences) >= max_sentences:
            break
    if not sentences:
        raise TokenizerError("cannot fit a tokenizer: the training text is empty")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=model,
            model_type="bpe",
            vocab_size=max(vocab_size, 300),
            hard_vocab_limit=False,
            character_coverage=1.0,
            byte_fallback=True,
            split_digits=True,
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            normalization_rule_name="identity",
            user_defined_symbols=list(USER_SYMBOLS),
            pad_id=PAD_ID,
            eos_id=EOS_ID,
            bos_id=BOS_ID,
            unk_id=UNK_ID,
            max_sentence_length=1 << 16,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=False,
            num_threads=1,
            minloglevel=2,
        )
    except RuntimeError as exc:
        raise TokenizerError(f"cannot fit a tokenizer: {exc}") from None
    path = out / MODEL_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.getvalue())
    tmp.replace(path)
    return path


def load_tokenizer(path: str | os.PathLike[str]) -> Any:
    """A ``sentencepiece.SentencePieceProcessor`` from a ``.model`` file or a directory
    holding ``tokenizer.model``."""
    import sentencepiece as spm

    p = Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    if not p.is_file():
        raise TokenizerError(f"no tokenizer at {p}")
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(str(p))
    except (OSError, RuntimeError) as exc:
        raise TokenizerError(f"cannot load tokenizer {p}: {exc}") from None
    return sp


def tokenizer_info(sp: Any) -> dict[str, Any]:
    """Sizes and special ids of a loaded SentencePiece tokenizer."""
    return {
        "vocab_size": int(sp.GetPieceSize()),
        "pad_id": int(sp.pad_id()),
        "eos_id": int(sp.eos_id()),
        "bos_id": int(sp.bos_id()),
        "unk_id": int(sp.unk_id()),
        "end_of_turn_id": int(sp.PieceToId(END_OF_TURN)),
    }


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` tokenizer behind the SentencePiece method names the
    trainer uses (EncodeAsIds, DecodeIds, bos_id, ...), also accepted by Tunix's sampler."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if self._tok.pad_token_id is None:
            self._tok.pad_token = self._tok.eos_token

    def EncodeAsIds(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False))

    def DecodeIds(self, ids: list[int]) -> str:
        return str(self._tok.decode(ids))

    def encode(self, text: str, **_: Any) -> list[int]:
        return self.EncodeAsIds(text)

    def decode(self, ids: list[int], **_: Any) -> str:
        return self.DecodeIds(ids)

    def GetPieceSize(self) -> int:
        return len(self._tok)

    def PieceToId(self, piece: str) -> int:
        ids: Any = self._tok.convert_tokens_to_ids([piece])
        value = ids[0] if ids else None
        return -1 if value is None or value == self._tok.unk_token_id else int(value)

    def bos_id(self) -> int:
        value = self._tok.bos_token_id
        return -1 if value is None else int(value)

    def eos_id(self) -> int:
        return int(self._tok.eos_token_id)

    def pad_id(self) -> int:
        return int(self._tok.pad_token_id)

    def unk_id(self) -> int:
        value = self._tok.unk_token_id
        return -1 if value is None else int(value)


HF_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
)


def copy_checkpoint_tokenizer(src: Path, out_dir: Path) -> Path:
    """Copy a checkpoint's tokenizer files into ``out_dir`` (the run's ``tokenizer/``)."""
    import shutil

    out_dir.mkdir(parents=True, exist_ok=True)
    copied = False
    for name in (MODEL_FILE, *HF_TOKENIZER_FILES):
        if (src / name).is_file():
            shutil.copyfile(src / name, out_dir / name)
            copied = True
    if not copied:
        raise TokenizerError(f"{src} has no tokenizer files")
    return out_dir


def load_any_tokenizer(path: str | os.PathLike[str]) -> Any:
    """SentencePiece when ``tokenizer.model`` is there, else a ``tokenizer.json`` one."""
    p = Path(path)
    if (p / MODEL_FILE).is_file() or p.is_file():
        return load_tokenizer(p)
    if (p / "tokenizer.json").is_file():
        return HFTokenizer(p)
    raise TokenizerError(f"no tokenizer in {p}")
