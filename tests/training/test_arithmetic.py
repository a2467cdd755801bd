"""The arithmetic generator: determinism, correct answers, step structure, validation."""

from __future__ import annotations

import re

import pytest

from tunix_rt.generators.arithmetic import (
    expected_value,
    generate_arithmetic,
    normalize_ops,
)
from tunix_rt.traces.schemas import ReasoningTrace

PROMPT = re.compile(r"^What is (.+)\?$")


def _python_value(prompt: str) -> int:
    match = PROMPT.match(prompt)
    assert match, prompt
    return int(eval(match.group(1).replace("×", "*"), {"__builtins__": {}}))


def test_same_seed_same_traces_and_other_seed_differs() -> None:
    a = generate_arithmetic(50, seed=7, digits=3, ops="+-×", terms=3)
    b = generate_arithmetic(50, seed=7, digits=3, ops="+-×", terms=3)
    c = generate_arithmetic(50, seed=8, digits=3, ops="+-×", terms=3)
    assert a == b
    assert [t["prompt"] for t in a] != [t["prompt"] for t in c]


@pytest.mark.parametrize("digits", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("ops", ["+", "-", "×", "+-×"])
@pytest.mark.parametrize("terms", [2, 3, 5])
def test_every_expected_answer_matches_python(digits: int, ops: str, terms: int) -> None:
    for trace in generate_arithmetic(
        40, seed=digits * 100 + terms, digits=digits, ops=ops, terms=terms, unique=False
    ):
        value = _python_value(trace["prompt"])
        assert trace["final_answer"] == str(value)
        assert trace["meta"]["expected_answer"] == str(value)
        ReasoningTrace.model_validate(trace)  # a valid trace for the API


def test_word_problems_have_true_nonnegative_answers() -> None:
    traces = generate_arithmetic(100, seed=3, digits=2, ops="+-", terms=3, style="word")
    for trace in traces:
        numbers = [int(n) for n in re.findall(r"\d+", trace["prompt"])]
        signs = ["-" if "gives away" in s else "+" for s in trace["prompt"].split("Then ")[1:]]
        assert trace["final_answer"] == str(expected_value(numbers, signs))
        assert int(trace["final_answer"]) >= 0
        assert trace["meta"]["style"] == "word"


def test_addition_steps_are_column_by_column_with_carries() -> None:
    (trace,) = [t for t in generate_arithmetic(300, seed=1) if t["prompt"] == "What is 76 + 47?"]
    assert [s["content"] for s in trace["steps"]] == [
        "ones: 6 + 7 + 0 = 13, so far 3",
        "tens: 7 + 4 + 1 = 12, so far 23",
        "hundreds: 0 + 0 + 1 = 01, so far 123",
        "76 + 47 = 123",
    ]
    assert [s["i"] for s in trace["steps"]] == [0, 1, 2, 3]
    assert [s["type"] for s in trace["steps"]] == ["digit", "digit", "digit", "result"]


def test_every_step_of_a_shape_has_the_same_form_and_length() -> None:
    """Column sums are written with two digits, the result so far with one digit per
    column done, and the last column is always there, so the n-th step of every problem
    of one shape has the same length (the result step, last, is the only one whose length
    depends on the numbers)."""
    (small,) = [t for t in generate_arithmetic(300, seed=1) if t["prompt"] == "What is 13 + 84?"]
    assert [s["content"] for s in small["steps"]] == [
        "ones: 3 + 4 + 0 = 07, so far 7",
        "tens: 1 + 8 + 0 = 09, so far 97",
        "hundreds: 0 + 0 + 0 = 00, so far 097",
        "13 + 84 = 97",
    ]
    for digits, ops in ((3, "+"), (3, "-"), (2, "×")):
        traces = generate_arithmetic(300, seed=digits, digits=digits, ops=ops)
        shapes = {tuple(len(s["content"]) for s in t["steps"][:-1]) for t in traces}
        assert len(shapes) == 1, (ops, shapes)


def test_every_digit_step_is_arithmetically_true() -> None:
    """Each column step states a true equation and its written digit/carry follow from it;
    the result so far (addition and subtraction) is this column's digit before the
    previous step's."""
    add = re.compile(r"^\w[\w-]*: (\d) \+ (\d) \+ (\d) = (\d\d), so far (\d+)$")
    sub = re.compile(
        r"^\w[\w-]*: (\d) - (\d) - (\d) = ([-+]\d\d), write (\d) borrow (\d), so far (\d+)$"
    )
    for trace in generate_arithmetic(300, seed=5, digits=4, ops="+-", terms=3):
        so_far = ""
        for step in trace["steps"]:
            if m := add.match(step["content"]):
                x, y, c, total = map(int, m.groups()[:4])
                assert x + y + c == total and c in (0, 1)
                if step["content"].startswith("ones:"):  # a new addition
                    so_far = ""
                so_far = str(total % 10) + so_far
                assert m.group(5) == so_far
            elif m := sub.match(step["content"]):
                x, y, b, diff, digit, borrow = map(int, m.groups()[:6])
                assert diff == x - y - b
                assert digit == (x - y - b) % 10
                assert borrow == (1 if x - y - b < 0 else 0)
                if step["content"].startswith("ones:"):  # a new subtraction
                    so_far = ""
                so_far = str(digit) + so_far
                assert m.group(7) == so_far
            else:
                assert step["type"] in {"result", "plan"}, step


def test_subtraction_compares_first_and_multiplication_is_long_multiplication() -> None:
    traces = generate_arithmetic(200, seed=2, digits=2, ops="-")
    for trace in traces:
        a, b = map(int, re.findall(r"\d+", trace["prompt"]))
        assert trace["steps"][0]["type"] == "plan"
        sign = "≥" if a >= b else "<"
        # The digits compared first, the most significant first (the first that differs
        # decides), then the sign.
        pairs = zip(f"{a:02d}", f"{b:02d}", strict=True)
        compared = ", ".join(
            f"{x} {y} {'=' if x == y else '>' if x > y else '<'}" for x, y in pairs
        )
        assert trace["steps"][0]["content"] == f"{a} - {b}: {compared}, so {sign} 0"
        # The columns work out the larger minus the smaller: its ones digits first.
        big, small = max(a, b), min(a, b)
        assert trace["steps"][1]["content"].startswith(f"ones: {big % 10} - {small % 10} - 0 = ")
    (product,) = [
        t for t in generate_arithmetic(400, seed=2, ops="*") if t["prompt"] == "What is 68 × 65?"
    ]
    assert [s["content"] for s in product["steps"]] == [
        "ones: 8 × 5 = 40, + 0 = 40",
        "tens: 6 × 5 = 30, + 4 = 34",
        "68 × 5 = 0340",
        "ones: 8 × 6 = 48, + 0 = 48",
        "tens: 6 × 6 = 36, + 4 = 40",
        "68 × 60 = 4080",
        "ones: 0 + 0 + 0 = 00, so far 0",
        "tens: 4 + 8 + 0 = 12, so far 20",
        "hundreds: 3 + 0 + 1 = 04, so far 420",
        "thousands: 0 + 4 + 0 = 04, so far 4420",
        "68 × 65 = 4420",
    ]
    for trace in generate_arithmetic(20, seed=2, digits=2, ops="*"):
        a, b = map(int, re.findall(r"\d+", trace["prompt"]))
        assert trace["steps"][2]["content"] == f"{a} × {b % 10} = {a * (b % 10):04d}"
        assert trace["steps"][-1]["content"] == f"{a} × {b} = {a * b}"
        assert trace["meta"]["task"] == "multiplication"


def test_meta_fields() -> None:
    traces = generate_arithmetic(5, seed=11, digits=3, ops=("+", "x"))
    for index, trace in enumerate(traces):
        meta = trace["meta"]
        assert meta["source"] == "arithmetic"
        assert meta["seed"] == 11 and meta["index"] == index
        assert meta["task"] in {"addition", "multiplication"}
        assert meta["digits"] == 3 and meta["ops"] == "+×"
        assert meta["difficulty"]
        assert trace["trace_version"] == "1.4"


def test_unique_prompts_and_operand_digits() -> None:
    traces = generate_arithmetic(2000, seed=0, digits=2)
    prompts = [t["prompt"] for t in traces]
    assert len(set(prompts)) == len(prompts)
    for prompt in prompts:
        assert all(10 <= int(n) <= 99 for n in re.findall(r"\d+", prompt))


def test_normalize_ops_aliases() -> None:
    assert normalize_ops("+-*") == ("+", "-", "×")
    assert normalize_ops(["x", "+", "×"]) == ("×", "+")
    assert normalize_ops("+, -") == ("+", "-")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0, "seed": 1}, "count must be"),
        ({"count": 1, "seed": 1, "digits": 7}, "digits must be from 1 to 6"),
        ({"count": 1, "seed": 1, "digits": 0}, "digits must be from 1 to 6"),
        ({"count": 1, "seed": 1, "ops": "/"}, "unknown operation '/'"),
        ({"count": 1, "seed": 1, "ops": ""}, "at least one operation"),
        ({"count": 1, "seed": 1, "terms": 1}, "terms must be from 2 to 5"),
        ({"count": 1, "seed": 1, "style": "poem"}, "style must be"),
        ({"count": 1, "seed": "x"}, "seed must be an integer"),
        ({"count": 101, "seed": 1, "digits": 1}, "only 100 distinct problems"),
    ],
)
def test_invalid_options_raise_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_arithmetic(**kwargs)  # type: ignore[arg-type]


def test_impossible_word_request_fails_instead_of_spinning() -> None:
    # 1-digit subtraction stories allow only 55 distinct problems (no negative totals).
    with pytest.raises(ValueError, match="could not draw 90 distinct word problems"):
        generate_arithmetic(90, 1, 1, "-", style="word")
