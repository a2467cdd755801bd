"""Re-checking arithmetic reasoning steps from their text.

The grammar is the one ``tunix_rt.generators.arithmetic`` writes (column steps, partial
products, shifts, plans, results) in its current trace version 1.4 (two-digit column
results without ``write``/``carry``; signed subtraction columns; in addition and
subtraction columns the result so far; the sign of a difference stated first, after its
digits are compared; multiplication columns' table product before the carry; zero-padded
partial products) and in 1.3, 1.2, 1.1 and 1.0, so older traces still check.
Every step the generator writes checks ``True`` here (tests/training/test_rewards.py).
Pure, so the training child (the GRPO ``step_validity`` reward) and the server can both
use it.
"""

from __future__ import annotations

import re

_N = r"\(?-?\d+\)?"  # an integer, negative ones possibly parenthesized
_PLACE = r"(?:[a-z-]+|10\^\d+)"
# Column steps: any numbers are accepted by the pattern, so a wrong digit, carry or
# borrow is a wrong step (False) rather than an unrecognised one (None).
# Version 1.1 writes column results with two digits and no ``write … carry …`` (the tens
# digit is the carry): ``ones: 7 + 5 + 0 = 12``; 1.0 wrote ``= 12, write 2 carry 1``.
# Version 1.2 adds the result so far, this column's digit first: ``…= 04, so far 42``.
_ADD_COLUMN = re.compile(
    rf"^{_PLACE}: (\d+) \+ (\d+) \+ (\d+) = (\d+)"
    rf"(?:, write (\d+) carry (\d+)|, so far (\d+))?$"
)
# ``= 2`` (trace version 1.0) or the signed, two-digit ``= +02`` / ``= -05`` (1.1): a
# negative column difference writes the difference plus 10 and borrows 1.
# Version 1.3 adds the result so far to subtraction columns too: ``…, borrow 1, so far 62``.
_SUB_COLUMN = re.compile(
    rf"^{_PLACE}: (\d+) - (\d+) - (\d+) = ([-+]?\d+), write (\d+) borrow (\d+)"
    rf"(?:, so far (\d+))?$"
)
_SUB_BORROW = re.compile(
    rf"^{_PLACE}: (\d+) - (\d+) - (\d+) < 0, (\d+) - (\d+) - (\d+) = (-?\d+), "
    rf"write (\d+) borrow (\d+)$"
)
_MUL_COLUMN = re.compile(
    rf"^{_PLACE}: (\d+) × (\d+) \+ (\d+) = (\d+)(?:, write (\d+)(?: carry (\d+))?)?$"
)
# Version 1.4 writes the table product before adding the carry: ``6 × 4 = 24, + 2 = 26``.
_MUL_SPLIT = re.compile(rf"^{_PLACE}: (\d+) × (\d+) = (\d+), \+ (\d+) = (\d+)$")
_BINARY = re.compile(rf"^({_N}) ([-+×]) ({_N}) = ({_N})$")
_SHIFT = re.compile(r"^(\d+) × (\d+) = (\d+) × (\d+) = (\d+)$")
_MUL_PLAN = re.compile(r"^(\d+) × (\d+) = (\d+ × \d+(?: \+ \d+ × \d+)+)$")
# The sign of a difference, stated before its columns (1.1): ``827 - 515 ≥ 0`` (the columns
# work out 827 - 515) or ``348 - 460 < 0`` (they work out 460 - 348).
# 1.4 compares the digits first, the most significant first:
# ``386 - 306: 3 3 =, 8 0 >, 6 6 =, so ≥ 0``.
_SUB_PLAN = re.compile(r"^(\d+) - (\d+) (≥|<) 0$")
_SUB_COMPARE = re.compile(r"^(\d+) - (\d+): (\d \d [=<>](?:, \d \d [=<>])*), so (≥|<) 0$")
_NEGATE_PLAN = re.compile(r"^(\d+) < (\d+), so compute (\d+) - (\d+) and negate it$")
_ADD_NEG_PLAN = re.compile(r"^(-\d+) \+ (\d+) = (\d+) - (\d+)$")
_SUB_NEG_PLAN = re.compile(r"^(-\d+) - (\d+) = -\((\d+) \+ (\d+)\)$")
_SIGN = re.compile(r"^one factor is negative, so the product is (-\d+)$")


def compare_digits(a: int, b: int) -> str:
    """Each pair of digits of ``a`` and ``b`` ≥ 0 (zero-padded to the same width), the most
    significant first, and how they compare: ``8 9 <, 5 6 <, 9 3 >`` for 859 and 963. The
    first pair that is not ``=`` decides the sign of ``a - b`` (the generator's 1.4 plan)."""
    width = max(len(str(a)), len(str(b)))
    pairs = zip(f"{a:0{width}d}", f"{b:0{width}d}", strict=True)
    return ", ".join(f"{x} {y} {'=' if x == y else '>' if x > y else '<'}" for x, y in pairs)


def _int(text: str) -> int:
    return int(text.strip("()"))


def check_step(text: str) -> bool | None:
    """True when a step in this generator's grammar is arithmetically right, False when
    it is in the grammar and wrong, None when it is not a step of that grammar (so
    it cannot be checked here)."""
    s = " ".join(text.split())
    if m := _ADD_COLUMN.match(s):
        x, y, c, total = map(int, m.groups()[:4])
        if not (x <= 9 and y <= 9 and x + y + c == total):
            return False
        if m.group(7) is not None:  # its first digit is this column's, the rest earlier steps'
            return m.group(7)[0] == str(total % 10)
        return m.group(5) is None or (int(m.group(5)), int(m.group(6))) == (total % 10, total // 10)
    if m := _SUB_COLUMN.match(s):
        x, y, b, d, digit, borrow = map(int, m.groups()[:6])
        negative = d < 0
        so_far = m.group(7)
        return (
            x <= 9
            and y <= 9
            and x - y - b == d
            and digit == d + 10 * negative
            and borrow == int(negative)
            and (so_far is None or so_far[0] == str(digit))
        )
    if m := _SUB_BORROW.match(s):
        x, y, b, x10, y2, b2, d, digit, borrow = map(int, m.groups())
        return (
            x <= 9
            and y <= 9
            and x - y - b < 0
            and (x10, y2, b2) == (x + 10, y, b)
            and x10 - y - b == d == digit
            and borrow == 1
        )
    if m := _MUL_COLUMN.match(s):
        x, d, c, total = (int(g) for g in m.groups()[:4])
        written_text, carry_text = m.group(5), m.group(6)
        if x > 9 or d > 9 or x * d + c != total:
            return False
        if written_text is None:
            return True
        written = int(written_text)
        if carry_text is None:
            return written == total
        return (written, int(carry_text)) == (total % 10, total // 10)
    if m := _MUL_SPLIT.match(s):
        x, d, product, c, total = map(int, m.groups())
        return x <= 9 and d <= 9 and x * d == product and product + c == total
    if m := _SHIFT.match(s):
        a, factor, product, power, shifted = map(int, m.groups())
        return a * factor == shifted and product * power == shifted and power > 0
    if m := _MUL_PLAN.match(s):
        a, b = int(m.group(1)), int(m.group(2))
        terms = [term.split(" × ") for term in m.group(3).split(" + ")]
        return all(int(left) == a for left, _ in terms) and sum(int(r) for _, r in terms) == b
    if m := _BINARY.match(s):
        left, op, right, result = m.groups()
        a, b, r = _int(left), _int(right), _int(result)
        return r == (a + b if op == "+" else a - b if op == "-" else a * b)
    if m := _SUB_PLAN.match(s):
        a, b, relation = int(m.group(1)), int(m.group(2)), m.group(3)
        return (a - b >= 0) == (relation == "≥")
    if m := _SUB_COMPARE.match(s):
        a, b = int(m.group(1)), int(m.group(2))
        return m.group(3) == compare_digits(a, b) and (a - b >= 0) == (m.group(4) == "≥")
    if m := _NEGATE_PLAN.match(s):
        a, b, b2, a2 = map(int, m.groups())
        return a < b and (b2, a2) == (b, a)
    if m := _ADD_NEG_PLAN.match(s):
        a, b, b2, x = map(int, m.groups())
        return b2 == b and a == -x
    if m := _SUB_NEG_PLAN.match(s):
        a, b, x, b2 = map(int, m.groups())
        return b2 == b and a == -x
    if _SIGN.match(s):
        return None  # true or false only with the factors, which the next step states
    return None
