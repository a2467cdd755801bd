"""GRPO rewards on hand-written completions, and the generator's step checker on every
step it writes (and on corrupted ones)."""

from __future__ import annotations

import pytest

from tunix_rt.generators.arithmetic import generate_arithmetic
from tunix_rt.kit.steps import check_step
from tunix_rt.training.rewards import (
    REWARDS,
    answer_correctness,
    format_reward,
    step_validity,
    weighted_rewards,
)

RIGHT = """Reasoning:
1. ones: 7 + 5 + 0 = 12, write 2 carry 1
2. tens: 2 + 1 + 1 = 4, write 4 carry 0
3. hundreds: 8 + 5 + 0 = 13, write 3 carry 1
4. thousands: 0 + 0 + 1 = 1, write 1 carry 0
5. 827 + 515 = 1342
Answer: 1342<end_of_turn>"""
# A dropped carry (step 1 wrong; step 2 is right on the carry it was given — steps are
# checked one by one), a wrong result (step 5) and a wrong answer.
WRONG_STEPS = """Reasoning:
1. ones: 7 + 5 + 0 = 12, write 2 carry 0
2. tens: 2 + 1 + 0 = 3, write 3 carry 0
3. hundreds: 8 + 5 + 0 = 13, write 3 carry 1
4. thousands: 0 + 0 + 1 = 1, write 1 carry 0
5. 827 + 515 = 1332
Answer: 1332"""
ANSWER_ONLY = "Answer: 1342"
RAMBLING = "the answer might be around thirteen hundred"
NEGATIVE = """Reasoning:
1. 943 < 981, so compute 981 - 943 and negate it
2. ones: 1 - 3 - 0 < 0, 11 - 3 - 0 = 8, write 8 borrow 1
3. tens: 8 - 4 - 1 = 3, write 3 borrow 0
4. hundreds: 9 - 9 - 0 = 0, write 0 borrow 0
5. 943 - 981 = -38
Answer: -38"""
PRODUCT = """Reasoning:
1. 76 × 47 = 76 × 7 + 76 × 40
2. ones: 6 × 7 + 0 = 42, write 2 carry 4
3. tens: 7 × 7 + 4 = 53, write 53
4. 76 × 7 = 532
5. ones: 6 × 4 + 0 = 24, write 4 carry 2
6. tens: 7 × 4 + 2 = 30, write 30
7. 76 × 4 = 304
8. 76 × 40 = 304 × 10 = 3040
9. ones: 2 + 0 + 0 = 2, write 2 carry 0
10. tens: 3 + 4 + 0 = 7, write 7 carry 0
11. hundreds: 5 + 0 + 0 = 5, write 5 carry 0
12. thousands: 0 + 3 + 0 = 3, write 3 carry 0
13. 532 + 3040 = 3572
14. 76 × 47 = 3572
Answer: 3572"""


def _call(name: str, completions: list[str], answers: list[str]) -> list[float]:
    return REWARDS[name](prompts=["p"] * len(completions), completions=completions, answer=answers)


def test_answer_correctness_is_exact_match_by_value() -> None:
    completions = [RIGHT, WRONG_STEPS, ANSWER_ONLY, RAMBLING, NEGATIVE, "Answer: 1,342."]
    answers = ["1342", "1342", "1342", "1342", "-38", "1342"]
    assert answer_correctness(["p"] * 6, completions, answers) == [1, 0, 1, 0, 1, 1]


def test_format_rewards_the_trained_structure_and_half_a_bare_answer() -> None:
    completions = [RIGHT, WRONG_STEPS, ANSWER_ONLY, RAMBLING, "Reasoning:\n2. x\nAnswer: 1"]
    assert format_reward(["p"] * 5, completions) == [1.0, 1.0, 0.5, 0.0, 0.5]


def test_step_validity_is_the_share_of_steps_that_check_out() -> None:
    completions = [RIGHT, WRONG_STEPS, NEGATIVE, PRODUCT, ANSWER_ONLY, RAMBLING]
    scores = step_validity(["p"] * 6, completions)
    assert scores == [1.0, pytest.approx(3 / 5), 1.0, 1.0, 0.0, 0.0]
    # Steps the generator's grammar does not cover are not counted either way.
    chatty = "Reasoning:\n1. let me think\n2. ones: 7 + 5 + 0 = 12, write 2 carry 1\nAnswer: 2"
    assert step_validity(["p"], [chatty]) == [1.0]
    # A column step with a two-digit "digit" is in the grammar and wrong.
    assert check_step("ones: 10 + 5 + 0 = 15, write 5 carry 1") is False
    assert check_step("tens: 7 - 5 - 0 = 2, write 2 borrow 1") is False
    assert check_step("one factor is negative, so the product is -12") is None


def test_with_the_reference_steps_a_step_must_be_the_generators_own() -> None:
    """A step that is arithmetically right but took a wrong digit from the problem is
    wrong against the reference; missing and extra steps cost too."""
    trace = generate_arithmetic(1, seed=5, digits=3, ops="+")[0]
    steps = [s["content"] for s in trace["steps"]]
    reference = "\n".join(steps)
    body = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))
    right = f"Reasoning:\n{body}\nAnswer: {trace['final_answer']}"
    # 827 + 515: copy the tens digit of the wrong operand into the tens column.
    assert steps[1] == "tens: 2 + 1 + 1 = 04, so far 42"
    miscopied = right.replace("tens: 2 + 1 + 1 = 04, so far 42", "tens: 2 + 2 + 1 = 05, so far 52")
    assert check_step("tens: 2 + 2 + 1 = 05, so far 52") is True  # right arithmetic, wrong digit
    truncated = "Reasoning:\n" + "\n".join(body.splitlines()[:2]) + "\nAnswer: 1342"
    padded = right.replace("Answer:", f"{len(steps) + 1}. 1 + 1 = 2\nAnswer:")
    scores = step_validity(
        ["p"] * 5,
        [right, miscopied, truncated, padded, RAMBLING],
        reference=[reference] * 5,
    )
    n = len(steps)
    assert scores == [1.0, pytest.approx((n - 1) / n), pytest.approx(2 / n), n / (n + 1), 0.0]
    # Without a reference (an empty one), the arithmetic re-check alone decides.
    assert step_validity(["p"], [miscopied], reference=[""]) == [1.0]


def test_weights_scale_each_reward_and_zero_drops_it() -> None:
    functions = weighted_rewards({"answer_correctness": 2.0, "format": 0.0, "step_validity": 0.5})
    assert [f.__name__ for f in functions] == ["answer_correctness", "step_validity"]
    kwargs = {"prompts": ["p", "p"], "completions": [RIGHT, WRONG_STEPS], "answer": ["1342"] * 2}
    assert functions[0](**kwargs) == [2.0, 0.0]
    assert functions[1](**kwargs) == [0.5, pytest.approx(0.3)]
    with pytest.raises(KeyError):
        weighted_rewards({"style": 1.0})


def test_every_generated_step_checks_out_and_a_changed_number_does_not() -> None:
    checked = wrong = 0
    for digits, ops, terms in [(3, "+", 2), (3, "-", 2), (2, "×", 2), (2, "+-×", 3), (4, "×", 2)]:
        for trace in generate_arithmetic(60, seed=digits, digits=digits, ops=ops, terms=terms):
            for step in trace["steps"]:
                verdict = check_step(step["content"])
                if step["type"] == "sign":
                    assert verdict is None
                    continue
                assert verdict is True, step
                checked += 1
                content = step["content"]
                if content.endswith((" ≥ 0", " < 0")):
                    # The sign of a difference: the other sign must not check.
                    flipped = content[:-3] + ("<" if content[-3] == "≥" else "≥") + " 0"
                    wrong += check_step(flipped) is False
                    continue
                # Change the step's last number (a result, a column sum, a written digit,
                # a carry or borrow, a plan's term) by one: the step must no longer check.
                tokens = content.split(" ")
                spots = [i for i, t in enumerate(tokens) if t.strip(",()").lstrip("-").isdigit()]
                # The result so far's later digits are earlier steps' (checked there): an
                # addition column changes its sum instead.
                i = spots[-2] if ", so far " in content else spots[-1]
                number = tokens[i].strip(",()")
                bumped = str(int(number) + 1)
                tokens[i] = tokens[i].replace(number, bumped, 1)
                if check_step(" ".join(tokens)) is False:
                    wrong += 1
    assert checked > 1000
    assert wrong == checked


NEGATIVE_1_1 = """Reasoning:
1. 348 - 460 < 0
2. ones: 0 - 8 - 0 = -08, write 2 borrow 1
3. tens: 6 - 4 - 1 = +01, write 1 borrow 0
4. hundreds: 4 - 3 - 0 = +01, write 1 borrow 0
5. 348 - 460 = -112
Answer: -112"""


def test_trace_version_1_1_steps_check_and_wrong_ones_do_not() -> None:
    assert step_validity(["p"], [NEGATIVE_1_1]) == [1.0]
    assert check_step("ones: 7 + 5 + 0 = 12") is True
    assert check_step("ones: 7 + 5 + 0 = 13") is False
    # 1.2: the result so far starts with this column's digit (the rest is earlier steps').
    assert check_step("tens: 2 + 1 + 1 = 04, so far 42") is True
    assert check_step("tens: 2 + 1 + 1 = 04, so far 52") is False
    assert check_step("tens: 2 + 1 + 1 = 05, so far 52") is False
    assert check_step("tens: 6 × 4 + 2 = 26") is True
    assert check_step("tens: 6 × 4 + 2 = 24") is False
    assert check_step("348 - 460 ≥ 0") is False
    assert check_step("460 - 348 ≥ 0") is True
    assert check_step("ones: 0 - 8 - 0 = -08, write 8 borrow 1") is False
    assert check_step("ones: 0 - 8 - 0 = +08, write 2 borrow 1") is False
    assert check_step("ones: 0 - 8 - 0 = -08, write 2 borrow 0") is False
    # 1.3: subtraction columns too, the written digit first.
    assert check_step("tens: 6 - 4 - 1 = +01, write 1 borrow 0, so far 12") is True
    assert check_step("tens: 6 - 4 - 1 = +01, write 1 borrow 0, so far 22") is False
    assert check_step("ones: 0 - 8 - 0 = -08, write 2 borrow 1, so far 8") is False
    # 1.4: the digits compared before the sign; the table product before the carry.
    assert check_step("386 - 306: 3 3 =, 8 0 >, 6 6 =, so ≥ 0") is True
    assert check_step("386 - 306: 3 3 =, 8 0 <, 6 6 =, so ≥ 0") is False
    assert check_step("386 - 306: 3 3 =, 8 0 >, 6 6 =, so < 0") is False
    assert check_step("386 - 306: 3 3 =, 8 1 >, 6 6 =, so ≥ 0") is False
    assert check_step("tens: 6 × 4 = 24, + 2 = 26") is True
    assert check_step("tens: 6 × 4 = 24, + 2 = 27") is False
    assert check_step("tens: 6 × 4 = 26, + 2 = 28") is False
    assert check_step("61 × 4 = 0244") is True
    assert check_step("61 × 80 = 4890") is False
