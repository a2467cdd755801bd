"""GRPO reward functions (SPEC §10), jax-free.

Each reward scores a batch of completions the way Tunix's GRPO learner calls them:
``fn(prompts=[...], completions=[...], answer=[...], **columns) -> list[float]`` (the
learner sums the rewards of all functions per completion). The scores use the same
parsing as evaluation, so what GRPO optimises is what the judges measure:

- ``answer_correctness`` — 1.0 when the text after the last ``Answer:`` matches the
  expected answer (numbers by value: ``kit.answers``), else 0.0; the ``answer_correctness``
  judge's exact match.
- ``format`` — 1.0 for ``Reasoning:`` + steps numbered 1..n + ``Answer:`` as the last line
  (the ``format`` judge's ``ok``), 0.5 for a final answer line without that structure,
  0.0 otherwise.
- ``step_validity`` — with the problem's reference steps (the ``reference`` column: the
  steps of the trace the prompt came from, one per line), the share of positions where
  the completion writes exactly the generator's step (which re-checks the digits taken
  from the problem as well as the arithmetic); without them, the share of the
  completion's steps that re-check as arithmetically right (``check_step``; steps outside
  its grammar are not counted; 0.0 when none could be checked). A completion whose steps
  are right but whose answer is wrong still scores here: it is answer_correctness that
  ties the steps to the result.

``weighted_rewards`` turns ``{name: weight}`` into the functions the learner is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunix_rt.kit.answers import answers_match, parse_output
from tunix_rt.kit.steps import check_step
from tunix_rt.training.params import DEFAULT_REWARD_WEIGHTS

RewardFn = Callable[..., list[float]]


def answer_correctness(
    prompts: Sequence[str], completions: Sequence[str], answer: Sequence[Any], **_: Any
) -> list[float]:
    del prompts
    return [
        1.0 if answers_match(parse_output(text).answer, str(expected)) else 0.0
        for text, expected in zip(completions, answer, strict=True)
    ]


def format_reward(prompts: Sequence[str], completions: Sequence[str], **_: Any) -> list[float]:
    del prompts
    scores = []
    for text in completions:
        parsed = parse_output(text)
        scores.append(1.0 if parsed.well_formed else 0.5 if parsed.answer is not None else 0.0)
    return scores


def step_validity(
    prompts: Sequence[str],
    completions: Sequence[str],
    reference: Sequence[str] | None = None,
    **_: Any,
) -> list[float]:
    del prompts
    scores = []
    references = list(reference) if reference is not None else [""] * len(completions)
    for text, ref in zip(completions, references, strict=True):
        steps = parse_output(text).steps
        expected = [line for line in str(ref).split("\n") if line] if ref else []
        if expected:
            scores.append(_faithful_share(steps, expected))
            continue
        verdicts = [check_step(step) for step in steps]
        checked = [v for v in verdicts if v is not None]
        scores.append(sum(checked) / len(checked) if checked else 0.0)
    return scores


def _faithful_share(steps: Sequence[str], expected: Sequence[str]) -> float:
    """The share of positions where the completion writes the generator's own step for
    this problem (over the longer of the two, so missing and extra steps both cost). A
    step that re-checks arithmetically but took a wrong digit from the problem is wrong
    here; where the generator's steps are deterministic, as the arithmetic generator's
    are, this is the re-check against the problem itself."""
    right = sum(
        1
        for got, want in zip(steps, expected, strict=False)
        if " ".join(got.split()) == " ".join(want.split()) and check_step(got) is not False
    )
    return right / max(len(steps), len(expected))


REWARDS: dict[str, RewardFn] = {
    "answer_correctness": answer_correctness,
    "format": format_reward,
    "step_validity": step_validity,
}
DEFAULT_WEIGHTS = DEFAULT_REWARD_WEIGHTS


def weighted_rewards(weights: Mapping[str, float]) -> list[RewardFn]:
    """One function per named reward with a non-zero weight, scaled by it. Unknown names
    raise ``KeyError`` (the run contract refuses them before a run starts)."""
    functions: list[RewardFn] = []
    for name, weight in weights.items():
        if weight == 0:
            continue
        base = REWARDS[name]

        def scaled(
            prompts: Sequence[str],
            completions: Sequence[str],
            _base: RewardFn = base,
            _weight: float = float(weight),
            **columns: Any,
        ) -> list[float]:
            return [_weight * r for r in _base(prompts=prompts, completions=completions, **columns)]

        scaled.__name__ = name  # the learner logs each reward under its function's name
        functions.append(scaled)
    return functions
