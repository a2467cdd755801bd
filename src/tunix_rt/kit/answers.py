"""Final-answer extraction from generated text and answer normalization.

A model trained on ``Reasoning:\\n1. ...\\nAnswer: X<end_of_turn>`` is judged on the text
after its *last* ``Answer:``. Numbers compare by value (``1,234`` == ``1234.0``,
``3/4`` == ``0.75``, ``+5`` == ``5``); anything else compares case-insensitively with
whitespace collapsed and trailing punctuation dropped.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

END_OF_TURN = "<end_of_turn>"

_ANSWER = re.compile(r"(?i)\banswer\s*:")
# Control tokens a sampler may leave behind, whole or cut off at the end of the text.
_SPECIAL_TOKEN = re.compile(r"<\s*/?\s*(?:end_of_turn|start_of_turn|eos|bos|pad|/s|s)\s*>", re.I)
_PARTIAL_TOKEN = re.compile(r"<[a-z_/]*$", re.I)
_TRAILING = " \t\r\n.,;:!?。"
_QUOTES = "\"'`*_"
_DASHES = str.maketrans({"−": "-", "–": "-", "—": "-", "\u2009": " ", "\u00a0": " "})
# 1,234,567 / 1 234 567 / 1_234 — thousands separators between digit groups of three.
_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:([, _])\d{3})(?:\1\d{3})*(?:\.\d+)?$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$", re.I)
MAX_NUMBER_CHARS = 200
MAX_EXPONENT = 400
_FRACTION = re.compile(r"^([+-]?\d+)\s*/\s*([+-]?\d+)$")


def strip_special_tokens(text: str) -> str:
    """Cut at the first ``<end_of_turn>`` and drop other control-token leftovers."""
    head = text.split(END_OF_TURN, 1)[0]
    head = _SPECIAL_TOKEN.sub("", head)
    return _PARTIAL_TOKEN.sub("", head)


def extract_answer(output: str) -> str | None:
    """The text after the last ``Answer:`` (first non-empty line of it), or None."""
    text = strip_special_tokens(output)
    matches = list(_ANSWER.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :]
    for line in rest.splitlines():
        cleaned = clean_answer(line)
        if cleaned:
            return cleaned
    return None


def clean_answer(text: str) -> str:
    """Trim whitespace, wrapping quotes/emphasis and trailing sentence punctuation."""
    out = unicodedata.normalize("NFKC", text).translate(_DASHES).strip()
    previous = None
    while out != previous:
        previous = out
        out = out.rstrip(_TRAILING).lstrip(" \t\r\n:")
        if len(out) >= 2 and out[0] in _QUOTES and out[-1] == out[0]:
            out = out[1:-1]
        out = out.strip()
    return out


def parse_number(text: str) -> Fraction | None:
    """The exact value of an integer, decimal, fraction or grouped number; else None."""
    s = clean_answer(text).removeprefix("$").strip()
    if len(s) > MAX_NUMBER_CHARS:
        return None
    grouped = _GROUPED.match(s)
    if grouped:
        s = s.replace(grouped.group(1), "")
    if _NUMBER.match(s):
        exponent = s.lower().partition("e")[2]
        if exponent and abs(int(exponent)) > MAX_EXPONENT:
            return None  # "1e999999999" would build an enormous integer
        try:
            return Fraction(Decimal(s))
        except (InvalidOperation, ValueError, OverflowError):
            return None
    frac = _FRACTION.match(s)
    if frac:
        denominator = int(frac.group(2))
        if denominator == 0:
            return None
        return Fraction(int(frac.group(1)), denominator)
    return None


def normalize_answer(text: str | None) -> str:
    """A comparison key: canonical number (``513``, ``-3/4``) or folded text."""
    if text is None:
        return ""
    number = parse_number(text)
    if number is not None:
        return str(number)  # Fraction prints "513" or "-3/4"
    folded = clean_answer(text).casefold()
    return " ".join(folded.split())


def answers_match(extracted: str | None, expected: str | None) -> bool:
    """True when both normalize to the same non-empty key."""
    if extracted is None or expected is None:
        return False
    key = normalize_answer(extracted)
    return bool(key) and key == normalize_answer(expected)


@dataclass(frozen=True)
class ParsedOutput:
    """A generated completion split into its reasoning steps and final answer."""

    has_reasoning_header: bool
    steps: list[str]
    numbering_ok: bool
    answer: str | None
    answer_is_last: bool

    @property
    def well_formed(self) -> bool:
        """The trained shape: header, steps numbered 1..n, the answer as the last line."""
        return (
            self.has_reasoning_header
            and self.numbering_ok
            and self.answer is not None
            and self.answer_is_last
        )


_STEP = re.compile(r"^\s*(\d+)[.)]\s+(\S.*)$")


def parse_output(output: str) -> ParsedOutput:
    """Split ``Reasoning:\\n1. a\\n2. b\\nAnswer: x`` into parts, tolerating noise."""
    text = strip_special_tokens(output)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    header = bool(lines) and lines[0].strip().casefold() == "reasoning:"
    steps: list[str] = []
    numbers: list[int] = []
    answer_index: int | None = None
    for index, line in enumerate(lines):
        if _ANSWER.match(line.strip()):
            answer_index = index
        step = _STEP.match(line)
        if step and answer_index is None:
            numbers.append(int(step.group(1)))
            steps.append(step.group(2).strip())
    numbering_ok = bool(numbers) and numbers == list(range(1, len(numbers) + 1))
    return ParsedOutput(
        has_reasoning_header=header,
        steps=steps,
        numbering_ok=numbering_ok,
        answer=extract_answer(text),
        answer_is_last=answer_index is not None and answer_index == len(lines) - 1,
    )
