"""Final-answer extraction and normalization edge cases."""

from __future__ import annotations

import pytest

from tunix_rt.kit.answers import (
    answers_match,
    extract_answer,
    normalize_answer,
    parse_number,
    parse_output,
    strip_special_tokens,
)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("Reasoning:\n1. 27 × 19 = 513\nAnswer: 513<end_of_turn>", "513"),
        ("Answer: 513", "513"),
        ("answer:513", "513"),
        ("ANSWER :  513  ", "513"),
        ("Answer: 513.", "513"),
        ("Answer: 513!\n", "513"),
        ("Answer: 513<end_of_turn><end_of_turn>junk Answer: 7", "513"),
        ("Answer: 513<end_of", "513"),
        ("Answer: 513 <eos>", "513"),
        ("Answer: 513</s>", "513"),
        # The last Answer: wins (a step may mention an earlier one).
        ("Reasoning:\n1. Answer: 12 is wrong\nAnswer: 13", "13"),
        ("Answer: 1\nAnswer: 2\nAnswer: 3", "3"),
        # The first non-empty line after the marker.
        ("Answer:\n\n  42  \nmore text", "42"),
        ('Answer: "Paris"', "Paris"),
        ("Answer: **Paris**.", "Paris"),
        ("Answer: `x = 3`", "x = 3"),
        ("Final answer: -7", "-7"),
        ("Answer: −7", "-7"),  # unicode minus
        ("Answer: 1,234,567", "1,234,567"),
    ],
)
def test_extract_answer(output: str, expected: str) -> None:
    assert extract_answer(output) == expected


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Reasoning:\n1. something",
        "Answer:",
        "Answer:   \n \n",
        "Answer: .<end_of_turn>",
        "<end_of_turn>Answer: 5",
    ],
)
def test_extract_answer_none(output: str) -> None:
    assert extract_answer(output) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("513", "513"),
        ("513.0", "513"),
        ("513.000", "513"),
        ("+513", "513"),
        ("1,234", "1234"),
        ("1 234", "1234"),
        ("1_234", "1234"),
        ("1,234,567.50", "1234567.5"),
        ("-12", "-12"),
        ("−12", "-12"),
        ("3/4", "0.75"),
        ("6/8", "3/4"),
        ("-1/2", "-0.5"),
        ("1 / 2", "0.5"),
        ("$5", "5"),
        ("1e3", "1000"),
        (".5", "0.5"),
        ("0", "-0"),
        ("Paris", "paris"),
        ("  New   York ", "new york"),
        ("Reveal.", "reveal"),
        ('"yes"', "YES"),
    ],
)
def test_answers_match(a: str, b: str) -> None:
    assert answers_match(a, b)
    assert answers_match(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("513", "514"),
        ("51.3", "513"),
        ("12,34", "1234"),  # not a thousands grouping: compared as text
        ("-12", "12"),
        ("1/3", "0.33"),
        ("Paris", "Pariss"),
        ("", ""),
        ("5 apples", "5"),
    ],
)
def test_answers_differ(a: str, b: str) -> None:
    assert not answers_match(a, b)


def test_none_never_matches() -> None:
    assert not answers_match(None, "5")
    assert not answers_match("5", None)
    assert normalize_answer(None) == ""


def test_normalize_answer_keys() -> None:
    assert normalize_answer("513.0") == "513"
    assert normalize_answer("-0.75") == "-3/4"
    assert normalize_answer("  Hello  World. ") == "hello world"


def test_parse_number_rejects_absurd_inputs() -> None:
    assert parse_number("1e999999999") is None
    assert parse_number("1" * 500) is None
    assert parse_number("1/0") is None
    assert parse_number("nan") is None
    assert parse_number("inf") is None
    assert parse_number("12abc") is None


def test_strip_special_tokens() -> None:
    assert strip_special_tokens("a<end_of_turn>b") == "a"
    assert strip_special_tokens("a<eos><pad>") == "a"
    assert strip_special_tokens("a<end_of_tu") == "a"


def test_parse_output_well_formed() -> None:
    parsed = parse_output(
        "Reasoning:\n1. 20 × 19 = 380\n2. 7 × 19 = 133\n3. 380 + 133 = 513\n"
        "Answer: 513<end_of_turn>"
    )
    assert parsed.has_reasoning_header
    assert parsed.steps == ["20 × 19 = 380", "7 × 19 = 133", "380 + 133 = 513"]
    assert parsed.numbering_ok
    assert parsed.answer == "513"
    assert parsed.answer_is_last


def test_parse_output_malformed() -> None:
    skipped = parse_output("Reasoning:\n1. a\n3. b\nAnswer: 5")
    assert not skipped.numbering_ok
    no_header = parse_output("1. a\nAnswer: 5")
    assert not no_header.has_reasoning_header
    trailing = parse_output("Reasoning:\n1. a\nAnswer: 5\nand more")
    assert not trailing.answer_is_last
    answer_only = parse_output("Answer: 5<end_of_turn>")
    assert answer_only.steps == [] and answer_only.answer == "5"
