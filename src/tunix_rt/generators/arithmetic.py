"""Arithmetic reasoning traces with verifiable answers (SPEC §4).

Pure and deterministic: the same arguments always give the same traces. Every trace works
the problem digit by digit, one operation per step, in a fixed textual format a tiny model
can learn (trace version 1.4):

- addition, column by column from the ones, the carry in written as the third term, the
  column sum always with two digits (its tens digit is the carry out) and the result so
  far (this column's digit in front of the previous step's), one column more than the
  longer operand: ``ones: 7 + 9 + 0 = 16, so far 6``, ``tens: 2 + 1 + 1 = 04, so far 46``
- subtraction: first the sign, after comparing the digit pairs from the most significant
  (``859 - 963: 8 9 <, 5 6 <, 9 3 >, so < 0``: the first pair that differs decides; for
  ``< 0`` the columns work out 963 - 859 and the result is negated), then column by column
  the signed difference with two digits, an explicit borrow and the result so far:
  ``ones: 3 - 9 - 0 = -06, write 4 borrow 1, so far 4``
- multiplication: long multiplication, for each digit of the second factor the columns of
  the first, the table product before the carry (``tens: 6 × 4 = 24, + 2 = 26``), and the
  partial product shifted to its place and zero-padded to the width of the product
  (``61 × 4 = 0244``, ``61 × 80 = 4880``), then the partial products added column by
  column (as in addition, with the result so far).

Every step of a problem shape has a fixed length (two-digit column results, the same
columns for every problem, a result so far one digit longer per column), so the n-th step
of every 3-digit addition sits at the same place: a small model finds the operand digits
it copies at fixed distances. Each step asks one small thing of the model; the versions
record what a tiny model trained from scratch got wrong (docs/training.md): the result so
far (1.2 in addition, 1.3 in subtraction) makes the result step a copy of the line above
it instead of digits gathered from every column step; 1.4 compares the digit pairs before
stating the sign of a difference (1.3 decided it in one token, and one subtraction in ten
went wrong there) and writes a column's table product before adding the carry (1.3's
``8 × 6 + 5 = 53`` in one step was where most multiplications went wrong).
Version 1.3 stated the sign at once (``348 - 460 < 0``) and multiplied with
``6 × 4 + 2 = 26``; 1.1 had no ``so far``; 1.0 wrote ``= 16, write 6 carry 1``, borrowed
with ``3 - 8 - 0 < 0, 13 - 8 - 0 = 5``, planned products with
``27 × 19 = 27 × 9 + 27 × 10`` and dropped a final zero column;
``tunix_rt.kit.steps.check_step`` reads all five.

Each binary operation ends with a step stating its result (``27 + 19 = 46``). Problems
with more than two terms are evaluated left to right; the prompt parenthesizes where that
differs from the usual precedence, so the expected answer is always the true value.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tunix_rt.kit.steps import compare_digits

TRACE_VERSION = "1.4"
SOURCE = "arithmetic"

MIN_DIGITS, MAX_DIGITS = 1, 6
MIN_TERMS, MAX_TERMS = 2, 5
MAX_COUNT = 100_000

_OP_ALIASES = {"+": "+", "-": "-", "−": "-", "×": "×", "*": "×", "x": "×", "X": "×"}
_OP_TASK = {"+": "addition", "-": "subtraction", "×": "multiplication"}
_PLACES = (
    "ones",
    "tens",
    "hundreds",
    "thousands",
    "ten-thousands",
    "hundred-thousands",
    "millions",
    "ten-millions",
    "hundred-millions",
    "billions",
    "ten-billions",
    "hundred-billions",
    "trillions",
)

Style = Literal["plain", "word"]


@dataclass
class _Steps:
    items: list[tuple[str, str]]

    def add(self, kind: str, content: str) -> None:
        self.items.append((kind, content))


def normalize_ops(ops: str | Iterable[str]) -> tuple[str, ...]:
    """Canonical operator symbols (``+``, ``-``, ``×``) in first-seen order.

    Accepts ``*``/``x`` for multiplication and a plain string of symbols (``"+-"``) or a
    comma separated one (``"+,×"``)."""
    if isinstance(ops, str):
        items = [ch for chunk in ops.replace(",", " ").split() for ch in chunk]
    else:
        items = [str(op).strip() for op in ops]
    if not items:
        raise ValueError("ops must name at least one operation of '+', '-', '×'")
    result: list[str] = []
    for op in items:
        canonical = _OP_ALIASES.get(op)
        if canonical is None:
            raise ValueError(f"unknown operation {op!r}; use '+', '-' or '×' (also '*' or 'x')")
        if canonical not in result:
            result.append(canonical)
    return tuple(result)


def _place(column: int) -> str:
    return _PLACES[column] if column < len(_PLACES) else f"10^{column}"


def _digits(value: int) -> list[int]:
    """Decimal digits, least significant first."""
    return [int(ch) for ch in reversed(str(value))]


def _add_columns(a: int, b: int, width: int, steps: _Steps) -> int:
    """``width`` column steps (zero-padded operands), each the same length: the column sum
    is written with two digits (``= 04``), so step ``n`` always sits at the same place."""
    da, db = _digits(a), _digits(b)
    carry = 0
    so_far = 0
    for column in range(width):
        x = da[column] if column < len(da) else 0
        y = db[column] if column < len(db) else 0
        total = x + y + carry
        so_far += (total % 10) * 10**column
        steps.add(
            "digit",
            f"{_place(column)}: {x} + {y} + {carry} = {total:02d}, so far {so_far:0{column + 1}d}",
        )
        carry = total // 10
    return a + b


def _add_steps(a: int, b: int, steps: _Steps) -> int:
    # One column more than the longer operand, always (the last one may write a 0), so
    # every problem of a shape has the same steps at the same places.
    result = _add_columns(a, b, max(len(str(a)), len(str(b))) + 1, steps)
    steps.add("result", f"{a} + {b} = {result}")
    return result


def _sub_columns(big: int, small: int, steps: _Steps) -> None:
    """Column steps of ``big - small`` (big ≥ small ≥ 0), each the same length: the signed
    column difference with two digits (``= +04``, ``= -05``); a negative one writes the
    digit plus 10 and borrows 1; then the result so far, as in addition columns."""
    da, db = _digits(big), _digits(small)
    borrow = 0
    so_far = 0
    for column in range(len(da)):
        x = da[column]
        y = db[column] if column < len(db) else 0
        diff = x - y - borrow
        borrow_out = 1 if diff < 0 else 0
        digit = diff + 10 * borrow_out
        so_far += digit * 10**column
        steps.add(
            "digit",
            f"{_place(column)}: {x} - {y} - {borrow} = {'-' if diff < 0 else '+'}{abs(diff):02d}, "
            f"write {digit} borrow {borrow_out}, so far {so_far:0{column + 1}d}",
        )
        borrow = borrow_out


def _sub_steps(a: int, b: int, steps: _Steps) -> int:
    # The comparison comes first, in one form for both cases, so the column steps that
    # follow sit at the same places whatever the sign of the result.
    steps.add("plan", f"{a} - {b}: {compare_digits(a, b)}, so {'≥' if a >= b else '<'} 0")
    if a >= b:
        _sub_columns(a, b, steps)
    else:
        _sub_columns(b, a, steps)  # the columns work out b - a, the result is negated
    result = a - b
    steps.add("result", f"{a} - {b} = {result}")
    return result


def _mul_by_digit(a: int, d: int, steps: _Steps) -> None:
    """Column steps of ``a × d`` for one digit d, each the same length (two-digit column
    totals, every column writes a digit and a carry; the last carry is the top digit)."""
    carry = 0
    for column, x in enumerate(_digits(a)):
        total = x * d + carry
        steps.add("digit", f"{_place(column)}: {x} × {d} = {x * d:02d}, + {carry} = {total:02d}")
        carry = total // 10


def _mul_steps(a: int, b: int, steps: _Steps) -> int:
    """Long multiplication: one partial product per digit of the second factor (already
    shifted to its place, zero-padded to the width of the product: ``61 × 80 = 4880``,
    ``61 × 4 = 0244``), then the partial products added column by column."""
    sign = -1 if (a < 0) != (b < 0) else 1
    a_abs, b_abs = abs(a), abs(b)
    db = _digits(b_abs)
    width = len(str(a_abs)) + len(db)  # the product has at most this many digits
    partials: list[int] = []
    for k, d in enumerate(db):
        _mul_by_digit(a_abs, d, steps)
        product = a_abs * d * 10**k
        if len(db) > 1:
            steps.add("partial", f"{a_abs} × {d * 10**k} = {product:0{width}d}")
        partials.append(product)
    running = partials[0]
    for n, part in enumerate(partials[1:], start=2):
        total = _add_columns(running, part, width, steps)
        if n < len(partials):
            steps.add("result", f"{running:0{width}d} + {part:0{width}d} = {total:0{width}d}")
        running = total
    result = sign * running
    if sign < 0:
        steps.add("sign", f"one factor is negative, so the product is {result}")
    steps.add("result", f"{_fmt(a)} × {_fmt(b)} = {result}")
    return result


def _fmt(value: int) -> str:
    return f"({value})" if value < 0 else str(value)


def _apply(op: str, a: int, b: int, steps: _Steps) -> int:
    if op == "+":
        if a < 0:
            # Only reached in longer chains after a negative difference: -x + b = b - x.
            steps.add("plan", f"{a} + {b} = {b} - {-a}")
            value = _sub_steps(b, -a, steps)
            steps.add("result", f"{a} + {b} = {value}")
            return value
        return _add_steps(a, b, steps)
    if op == "-":
        if a < 0:
            steps.add("plan", f"{a} - {b} = -({-a} + {b})")
            total = _add_steps(-a, b, steps)
            steps.add("result", f"{a} - {b} = {-total}")
            return -total
        return _sub_steps(a, b, steps)
    return _mul_steps(a, b, steps)


def _plain_prompt(operands: Sequence[int], operators: Sequence[str]) -> str:
    expr = str(operands[0])
    for index, (op, value) in enumerate(zip(operators, operands[1:], strict=True)):
        # Left to right: parenthesize the running expression when a × follows + or -.
        if op == "×" and index > 0 and any(o != "×" for o in operators[:index]):
            expr = f"({expr})"
        expr = f"{expr} {op} {value}"
    return f"What is {expr}?"


_NAMES = ("Ava", "Ben", "Chloe", "Dev", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas")
_ITEMS = ("apples", "marbles", "stickers", "coins", "books", "shells", "cards", "pencils")


def _word_prompt(operands: Sequence[int], operators: Sequence[str], rng: random.Random) -> str:
    name = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    parts = [f"{name} has {operands[0]} {item}."]
    for op, value in zip(operators, operands[1:], strict=True):
        if op == "+":
            parts.append(f"Then {name} gets {value} more {item}.")
        elif op == "-":
            parts.append(f"Then {name} gives away {value} {item}.")
        else:
            parts.append(f"Then the number of {item} is multiplied by {value}.")
    parts.append(f"How many {item} does {name} have now?")
    return " ".join(parts)


def _count_space(digits: int, terms: int, n_ops: int) -> int:
    lo, hi = _operand_range(digits)
    return int((hi - lo + 1) ** terms * n_ops ** (terms - 1))


def _operand_range(digits: int) -> tuple[int, int]:
    lo = 0 if digits == 1 else 10 ** (digits - 1)
    return lo, 10**digits - 1


def _validate(count: int, seed: int, digits: int, terms: int, style: str) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be an integer from 1 to {MAX_COUNT}, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if isinstance(digits, bool) or not isinstance(digits, int):
        raise ValueError(f"digits must be an integer, got {digits!r}")
    if not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"digits must be from {MIN_DIGITS} to {MAX_DIGITS}, got {digits}")
    if isinstance(terms, bool) or not isinstance(terms, int):
        raise ValueError(f"terms must be an integer, got {terms!r}")
    if not MIN_TERMS <= terms <= MAX_TERMS:
        raise ValueError(f"terms must be from {MIN_TERMS} to {MAX_TERMS}, got {terms}")
    if style not in ("plain", "word"):
        raise ValueError(f"style must be 'plain' or 'word', got {style!r}")


def generate_arithmetic(
    count: int,
    seed: int,
    digits: int = 2,
    ops: str | Iterable[str] = ("+",),
    *,
    terms: int = 2,
    style: Style = "plain",
    unique: bool = True,
    trace_version: str = TRACE_VERSION,
) -> list[dict[str, Any]]:
    """``count`` ReasoningTrace dicts, deterministic for the same arguments.

    - ``digits`` (1–6): every operand has exactly this many digits (1 digit: 0–9).
    - ``ops``: the operations drawn from, uniformly per operator slot.
    - ``terms`` (2–5): operands per problem (more terms = more reasoning steps).
    - ``style``: ``plain`` ("What is 27 + 19?") or ``word`` (a short story problem whose
      running total never goes negative).
    - ``unique``: no two traces share a prompt (``ValueError`` when ``count`` exceeds the
      number of distinct problems).
    """
    _validate(count, seed, digits, terms, style)
    operations = normalize_ops(ops)
    if unique and count > _count_space(digits, terms, len(operations)):
        raise ValueError(
            f"only {_count_space(digits, terms, len(operations))} distinct problems exist "
            f"for digits={digits}, terms={terms}, ops={''.join(operations)}; "
            f"lower count ({count}) or pass unique=False"
        )
    rng = random.Random(f"tunix-rt-arithmetic:{seed}")
    lo, hi = _operand_range(digits)
    seen: set[tuple[tuple[int, ...], tuple[str, ...]]] = set()
    traces: list[dict[str, Any]] = []
    # Rejection sampling: word problems and uniqueness discard draws. Bound the misses so a
    # request that (nearly) exhausts the problems a story allows fails instead of spinning.
    misses, max_misses = 0, 200 * count + 10_000
    while len(traces) < count:
        if misses > max_misses:
            raise ValueError(
                f"could not draw {count} distinct {style} problems for digits={digits}, "
                f"terms={terms}, ops={''.join(operations)} (only {len(traces)} found); "
                "lower count, add digits or operations, or pass unique=False"
            )
        operands = tuple(rng.randint(lo, hi) for _ in range(terms))
        operators = tuple(rng.choice(operations) for _ in range(terms - 1))
        key = (operands, operators)
        if style == "word" and any(
            expected_value(operands[: n + 1], operators[:n]) < 0 for n in range(1, terms)
        ):
            misses += 1
            continue  # a story cannot give away more than there is
        if unique:
            if key in seen:
                misses += 1
                continue
            seen.add(key)
        prompt = (
            _plain_prompt(operands, operators)
            if style == "plain"
            else _word_prompt(operands, operators, rng)
        )
        steps = _Steps([])
        value = operands[0]
        for op, operand in zip(operators, operands[1:], strict=True):
            value = _apply(op, value, operand, steps)
        used = sorted({_OP_TASK[op] for op in operators})
        answer = str(value)
        traces.append(
            {
                "trace_version": trace_version,
                "prompt": prompt,
                "steps": [
                    {"i": i, "type": kind, "content": content}
                    for i, (kind, content) in enumerate(steps.items)
                ],
                "final_answer": answer,
                "meta": {
                    "source": SOURCE,
                    "task": used[0] if len(used) == 1 else "mixed",
                    "difficulty": f"{digits}-digit, {terms} terms",
                    "digits": digits,
                    "terms": terms,
                    "ops": "".join(operations),
                    "style": style,
                    "expected_answer": answer,
                    "seed": seed,
                    "index": len(traces),
                },
            }
        )
    return traces


def expected_value(operands: Sequence[int], operators: Sequence[str]) -> int:
    """Left-to-right value of a chain (the generator's semantics), for checks."""
    value = operands[0]
    for op, operand in zip(operators, operands[1:], strict=True):
        canonical = _OP_ALIASES[op]
        if canonical == "+":
            value += operand
        elif canonical == "-":
            value -= operand
        else:
            value *= operand
    return value
