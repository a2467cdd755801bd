"""Judges on fixed predictions (golden values) and the judge registry."""

from __future__ import annotations

import pytest

from tunix_rt.config import load_settings
from tunix_rt.evals.judges import (
    build_judge,
    parse_judge_specs,
    run_judges,
)
from tunix_rt.evals.judges.base import PredictionItem
from tunix_rt.evals.judges.baseline import BaselineJudge
from tunix_rt.evals.judges.correctness import AnswerCorrectnessJudge
from tunix_rt.evals.judges.format import FormatJudge
from tunix_rt.evals.judges.llm import LLMJudge, LLMJudgeConfig
from tunix_rt.evals.judges.mock import MockJudge
from tunix_rt.kit.errors import Unprocessable

EOT = "<end_of_turn>"

GOLDEN = [
    # well formed, correct
    PredictionItem(
        "a",
        "What is 27 × 19?",
        f"Reasoning:\n1. 27 × 10 = 270\n2. 27 × 9 = 243\n3. 270 + 243 = 513\nAnswer: 513{EOT}",
        "513",
        "mul",
    ),
    # well formed, wrong
    PredictionItem(
        "b", "What is 12 + 30?", f"Reasoning:\n1. 12 + 30 = 41\nAnswer: 41{EOT}", "42", "add"
    ),
    # answer only (no reasoning), correct with a trailing period and comma grouping
    PredictionItem("c", "What is 1000 + 234?", f"Answer: 1,234.{EOT}", "1234", "add"),
    # bad numbering, correct as a decimal
    PredictionItem(
        "d", "What is 10 - 3?", "Reasoning:\n1. 10 - 3\n3. = 7\nAnswer: 7.0", "7", "sub"
    ),
    # no answer at all
    PredictionItem("e", "What is 2 × 2?", "Reasoning:\n1. 2 × 2 = 4", "4", "mul"),
    # no expected answer: not scored for correctness
    PredictionItem("f", "Say hi.", f"Reasoning:\n1. greet\nAnswer: hi{EOT}", None, None),
]


async def test_answer_correctness_golden() -> None:
    result = await AnswerCorrectnessJudge().judge(GOLDEN)
    assert result.spec == "answer_correctness@1"
    assert result.score == 60.0  # a, c, d of five scored
    assert result.metrics == {"accuracy": 0.6}
    assert result.verdict == "pass"
    assert result.summary["correct"] == 3
    assert result.summary["total"] == 5
    assert result.summary["unscored"] == 1
    assert result.summary["by_category"] == {
        "add": {"correct": 1, "total": 2, "accuracy": 0.5},
        "mul": {"correct": 1, "total": 2, "accuracy": 0.5},
        "sub": {"correct": 1, "total": 1, "accuracy": 1.0},
    }
    by_id = {d["id"]: d for d in result.items}
    assert by_id["a"] == {"id": "a", "extracted_answer": "513", "correct": True}
    assert by_id["b"]["correct"] is False and by_id["b"]["extracted_answer"] == "41"
    assert by_id["c"]["extracted_answer"] == "1,234"
    assert by_id["e"] == {"id": "e", "extracted_answer": None, "correct": False}
    assert by_id["f"]["correct"] is None


async def test_answer_correctness_fails_below_pass_score_and_is_uncertain_without_refs() -> None:
    assert (await AnswerCorrectnessJudge(pass_score=70).judge(GOLDEN)).verdict == "fail"
    empty = await AnswerCorrectnessJudge().judge([GOLDEN[-1]])
    assert empty.verdict == "uncertain"
    assert empty.score == 0.0


async def test_format_golden() -> None:
    result = await FormatJudge().judge(GOLDEN)
    by_id = {d["id"]: d for d in result.items}
    assert [i for i, d in by_id.items() if d["ok"]] == ["a", "b", "f"]
    assert result.score == 50.0
    assert result.metrics == {"format_rate": 0.5}
    assert by_id["c"]["has_reasoning_header"] is False
    assert by_id["d"]["numbering_ok"] is False
    assert by_id["e"]["has_answer"] is False
    assert by_id["a"]["step_count"] == 3


async def test_baseline_golden() -> None:
    result = await BaselineJudge().judge(GOLDEN)
    by_id = {d["id"]: d for d in result.items}
    # item a: 3 steps (15 points) of avg (13+12+15)/3 = 13.33 chars (1.33 points)
    assert by_id["a"]["step_count"] == 3
    assert by_id["a"]["score"] == 16.33
    assert by_id["c"]["score"] == 0.0
    assert result.metrics["baseline_score"] == result.score
    assert result.verdict == "fail"  # short arithmetic traces are far from 10 × 500 chars


async def test_mock_judge_is_deterministic_and_labelled() -> None:
    first = await MockJudge().judge(GOLDEN)
    again = await MockJudge().judge(list(reversed(GOLDEN)))
    assert first.score == again.score
    assert 0 <= first.score <= 100
    assert first.summary["mock"] is True


async def test_llm_judge_mock_mode_is_offline_and_follows_correctness() -> None:
    judge = LLMJudge(LLMJudgeConfig(base_url="http://127.0.0.1:9", mock=True))
    result = await judge.judge(GOLDEN[:5])
    assert result.score == 60.0
    assert result.summary["mode"] == "mock"
    assert result.summary["pass_count"] == 3
    assert "mock judge" in result.items[0]["rationale"]


async def test_run_judges_first_judge_sets_score() -> None:
    outcome = await run_judges([AnswerCorrectnessJudge(), FormatJudge()], GOLDEN)
    assert (outcome.judge_name, outcome.judge_version) == ("answer_correctness", "1")
    assert outcome.score == 60.0
    assert outcome.verdict == "pass"
    assert outcome.metrics == {"score": 60.0, "accuracy": 0.6, "format_rate": 0.5}
    assert [d["name"] for d in outcome.detailed_metrics] == ["answer_correctness", "format"]
    first = outcome.detailed_metrics[0]
    assert first["max_score"] == 100.0
    assert first["details"]["version"] == "1"
    assert first["details"]["verdict"] == "pass"
    per_item = outcome.item_details()
    assert per_item["b"]["answer_correctness"]["correct"] is False
    assert per_item["b"]["format"]["ok"] is True


def test_parse_judge_specs() -> None:
    assert parse_judge_specs("answer_correctness, format") == [
        "answer_correctness@1",
        "format@1",
    ]
    assert parse_judge_specs(["llm_judge@1", "llm_judge"]) == ["llm_judge@1"]
    with pytest.raises(Unprocessable, match="unknown judge 'nope'"):
        parse_judge_specs("nope")
    with pytest.raises(Unprocessable, match="no version '9'"):
        parse_judge_specs("format@9")
    with pytest.raises(Unprocessable, match="at least one"):
        parse_judge_specs(" , ")


def test_build_judge_uses_settings(tmp_path: object) -> None:
    settings = load_settings(
        eval_pass_score=80, rediai_mode="real", rediai_base_url="http://judge.example:8080"
    )
    judge = build_judge("llm_judge@1", settings)
    assert isinstance(judge, LLMJudge)
    assert judge.url == "http://judge.example:8080/v1/chat/completions"
    assert judge.config.mock is False
    assert judge.pass_score == 80
    override = settings.model_copy(update={"llm_judge_base_url": "http://other:1"})
    other = build_judge("llm_judge", override)
    assert isinstance(other, LLMJudge)
    assert other.url == "http://other:1/v1/chat/completions"
    assert isinstance(build_judge("format@1", settings), FormatJudge)


def test_mock_is_never_a_default() -> None:
    from tunix_rt.config import SettingsError

    assert "mock" not in load_settings().eval_default_judges
    with pytest.raises(SettingsError, match="TUNIX_RT_EVAL_DEFAULT_JUDGES"):
        load_settings(eval_default_judges="answer_correctness,mock")
