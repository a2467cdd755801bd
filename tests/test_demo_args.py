"""The arithmetic demo's command line (examples/arithmetic_demo): what its GRPO stage
starts from and how it weights the rewards. The demo itself is run by hand (it trains for
minutes); these check the arguments it turns into API requests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "arithmetic_demo"


@pytest.fixture(scope="module")
def demo():
    sys.path.insert(0, str(DEMO))
    try:
        import grpo_stage
        import run_demo

        yield run_demo, grpo_stage
    finally:
        sys.path.remove(str(DEMO))


def test_the_mixed_suites_grpo_stage_starts_from_a_1000_step_run_scaled_with_steps(demo):
    run_demo, _ = demo
    args = run_demo.parse_args(["--suite", "mixed", "--grpo"])
    assert (args.steps, args.grpo_sft_steps, args.grpo_start_given) == (2200, 1000, False)
    assert (args.grpo_steps, args.grpo_generations) == (60, 8)
    halved = run_demo.parse_args(["--suite", "mixed", "--grpo", "--steps", "1100"])
    assert halved.grpo_sft_steps == 500
    quick = run_demo.parse_args(["--quick", "--grpo"])  # add2: 600 of 1,500 steps
    assert (quick.steps, quick.grpo_sft_steps) == (150, 60)
    given = run_demo.parse_args(["--suite", "mixed", "--grpo-sft-steps", "700"])
    assert (given.grpo_sft_steps, given.grpo_start_given) == (700, True)


def test_grpo_rewards_default_to_the_answer_alone_and_parse_name_weight_pairs(demo):
    run_demo, grpo_stage = demo
    args = run_demo.parse_args(["--suite", "mixed", "--grpo"])
    assert args.grpo_rewards == {"answer_correctness": 1.0, "format": 0.0, "step_validity": 0.0}
    assert grpo_stage.parse_weights("answer_correctness=1, format=0.1") == {
        "answer_correctness": 1.0,
        "format": 0.1,
    }
    for bad in ("format", "=1", "format=high"):
        with pytest.raises(Exception, match="is not name=weight"):
            grpo_stage.parse_weights(bad)
