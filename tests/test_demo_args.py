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


def test_the_grpo_report_pairs_the_two_evaluations_with_a_sign_test(demo):
    _, grpo_stage = demo
    assert grpo_stage.sign_test(0, 0) == 1.0
    assert grpo_stage.sign_test(5, 5) == 1.0
    assert grpo_stage.sign_test(10, 0) == pytest.approx(2 / 1024)
    assert grpo_stage.sign_test(0, 10) == grpo_stage.sign_test(10, 0)
    # 5 of 16 either way: P(X ≤ 5) for X ~ Binomial(16, 1/2), doubled.
    assert grpo_stage.sign_test(11, 5) == pytest.approx(2 * 6885 / 65536)
    before = {"correct": 180, "total": 360, "accuracy": 0.5, "by_category": {}}
    after = {"correct": 190, "total": 360, "accuracy": 190 / 360, "by_category": {}}
    stage = {
        "sft_steps": 1000,
        "before": before,
        "after": after,
        "fixed": 25,
        "broken": 15,
        "grpo_seconds": 600.0,
        "first_reward": 0.2,
        "last_reward": 0.3,
    }
    lines, improved = grpo_stage.report_lines(stage, ["addition"])
    assert "fixed 25 and broke 15 of the 360 problems" in lines[-1]
    assert f"p = {grpo_stage.sign_test(25, 15):.3g}" in lines[-1]
    # +10 net on 360 is within what near-tied answers flipping either way gives: p ≈ 0.15.
    assert not improved
    stage.update(fixed=27, broken=10, after={**after, "correct": 197, "accuracy": 197 / 360})
    assert grpo_stage.report_lines(stage, ["addition"])[1]  # p ≈ 0.008
    stage.update(fixed=27, broken=26, after={**after, "correct": 181, "accuracy": 181 / 360})
    assert not grpo_stage.report_lines(stage, ["addition"])[1]  # one problem up: noise
    stage.update(fixed=10, broken=27, after={**after, "correct": 163, "accuracy": 163 / 360})
    assert not grpo_stage.report_lines(stage, ["addition"])[1]  # significant, but a loss


def test_the_grpo_request_screens_prompts_unless_told_not_to(demo):
    run_demo, grpo_stage = demo
    args = run_demo.parse_args(["--suite", "mixed", "--grpo"])
    body = grpo_stage.grpo_request(args, "arith-v1", "run-1")
    assert body["init_from"] == {"run_id": "run-1"} and body["algorithm"] == "grpo"
    assert body["filter_samples"] == 4 and body["beta"] == 0.2
    args = run_demo.parse_args(["--suite", "mixed", "--grpo", "--grpo-filter-samples", "0"])
    assert "filter_samples" not in grpo_stage.grpo_request(args, "arith-v1", "run-1")
    args = run_demo.parse_args(["--suite", "mixed", "--grpo", "--grpo-filter-samples", "8"])
    assert grpo_stage.grpo_request(args, "arith-v1", "run-1")["filter_samples"] == 8


def test_the_mixed_suites_start_is_retrained_until_it_lands_in_its_window(demo):
    run_demo, grpo_stage = demo
    args = run_demo.parse_args(["--suite", "mixed", "--grpo"])
    assert args.grpo_start_window == (0.40, 0.75) and args.grpo_start_tries == 3
    assert run_demo.parse_args(["--grpo"]).grpo_start_window is None  # add2: one start
    given = run_demo.parse_args(["--suite", "mixed", "--grpo", "--grpo-start-window", ".1,.3"])
    assert given.grpo_start_window == (0.1, 0.3)
    with pytest.raises(SystemExit):
        run_demo.parse_args(["--suite", "mixed", "--grpo", "--grpo-start-tries", "0"])
    for bad in ("0.3", "0.5,0.2", "0.2,1.5", "low,high"):
        with pytest.raises(Exception, match="LOW"):
            grpo_stage.parse_window(bad)

    window, nxt = (0.20, 0.45), grpo_stage.next_start_steps
    assert nxt([(1000, "a", 0.30)], window, 100) is None  # inside: keep it
    assert nxt([(1000, "a", 0.80)], window, 100) == 900  # past the jump: shorter
    assert nxt([(1000, "a", 0.05)], window, 100) == 1100  # before it: longer
    # The jump lies between 900 and 1,000 steps: going back would repeat a start.
    assert nxt([(1000, "a", 0.80), (900, "b", 0.10)], window, 100) is None
    assert nxt([(1000, "a", 0.80), (900, "b", 0.60)], window, 100) == 800

    nearest = grpo_stage.nearest_start
    assert nearest([(1000, "a", 0.80), (900, "b", 0.30)], window)[1] == "b"
    assert nearest([(1000, "a", 0.80), (900, "b", 0.10)], window)[1] == "b"  # 10 from 20
    assert nearest([(1000, "a", 0.50), (900, "b", 0.10)], window)[1] == "a"  # 5 from 45
    assert nearest([(1000, "a", 0.25), (900, "b", 0.40)], window)[1] == "b"  # both: the later


def test_the_start_is_chosen_on_a_random_sample_of_every_operation(demo):
    # A split lists its problems one operation after another: its first 240 would all be
    # additions, and the start's window would measure `+` alone.
    _, grpo_stage = demo
    records = [{"id": f"{task}-{i}", "task": task} for task in ("a", "s", "m") for i in range(300)]
    sample = grpo_stage.sample_records(records, 240, seed=1234)
    assert len(sample) == 240 and len({r["id"] for r in sample}) == 240
    counts = {task: sum(r["task"] == task for r in sample) for task in ("a", "s", "m")}
    assert all(50 <= n <= 110 for n in counts.values()), counts
    assert sample == grpo_stage.sample_records(records, 240, seed=1234)  # the seed fixes it
    assert sample != grpo_stage.sample_records(records, 240, seed=7)
    assert [records.index(r) for r in sample] == sorted(records.index(r) for r in sample)
    assert grpo_stage.sample_records(records[:10], 240, seed=1) == records[:10]  # all of them


def test_the_stage_is_judged_by_the_sampled_policy_unless_told_not_to(demo):
    run_demo, grpo_stage = demo
    args = run_demo.parse_args(["--suite", "mixed", "--grpo"])
    assert args.grpo_eval_samples == 4
    # Prompt → right samples of 4: two problems up, one down, one the same.
    before = {"a": 0, "b": 1, "c": 4, "d": 2}
    after = {"a": 2, "b": 3, "c": 3, "d": 2}
    cmp = grpo_stage.compare_sampled(before, after, k=4, temperature=0.8)
    assert cmp["before"] == pytest.approx(7 / 16) and cmp["after"] == pytest.approx(10 / 16)
    assert (cmp["up"], cmp["down"], cmp["total"]) == (2, 1, 4)

    half = {"correct": 180, "total": 360, "accuracy": 0.5, "by_category": {}}
    stage = {
        "sft_steps": 700,
        "before": half,
        "after": half,
        "fixed": 25,
        "broken": 23,
        "grpo_seconds": 700.0,
        "first_reward": 0.3,
        "last_reward": 0.4,
        "sampled": {**cmp, "up": 73, "down": 31, "before": 0.199, "after": 0.242},
    }
    lines, improved = grpo_stage.report_lines(stage, ["addition"])
    assert improved  # greedy noise (25 / 23), the sampled policy up (73 / 31, p ≈ 5e-5)
    assert "19.9% → 24.2% right (+4.3 points)" in lines[-2]
    assert "more samples right on 73 problems, fewer on 31" in lines[-1]
    stage["sampled"].update(up=40, down=31)  # the sampled policy: noise
    assert not grpo_stage.report_lines(stage, ["addition"])[1]
    stage["sampled"].update(up=73, down=31)
    stage.update(fixed=10, broken=30)  # sampled up, but greedy significantly worse
    assert not grpo_stage.report_lines(stage, ["addition"])[1]
    stage.update(fixed=23, broken=25)  # ... or worse at all: both numbers must rise
    assert not grpo_stage.report_lines(stage, ["addition"])[1]
    stage.update(fixed=24, broken=24)
    assert not grpo_stage.report_lines(stage, ["addition"])[1]
    stage.update(fixed=30, broken=10, sampled=None)  # --grpo-eval-samples 0: greedy alone
    assert grpo_stage.report_lines(stage, ["addition"])[1]
    assert len(grpo_stage.report_lines(stage, ["addition"])[0]) == len(lines) - 2
