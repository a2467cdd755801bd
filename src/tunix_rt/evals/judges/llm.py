"""``llm_judge``: a rubric prompt sent to an OpenAI-compatible chat endpoint (RediAI, vLLM,
llama.cpp server, Ollama), answered with a JSON verdict and rationale per item.

In mock mode (``REDIAI_MODE=mock``) no request leaves the process: the verdict follows
the answer-correctness rule, so results are deterministic and offline.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from tunix_rt.evals.judges.base import JudgeResult, PredictionItem, verdict_for
from tunix_rt.kit.answers import answers_match, extract_answer, strip_special_tokens

SYSTEM_PROMPT = (
    "You are a strict grader of step-by-step solutions. You reply with one JSON object "
    "and nothing else."
)

RUBRIC_TEMPLATE = """Grade the model's response to the question.

Question:
{prompt}

Reference answer: {expected_answer}

Model response:
{output}

Rubric:
- The final answer (after "Answer:") must equal the reference answer; numbers compare by value.
- The reasoning steps must be correct and lead to that answer.
- Score 10: correct answer with sound steps. 5: correct answer with flawed steps, or sound
  steps with a slip in the final answer. 0: wrong or missing answer.

Reply with JSON only:
{{"score": <integer 0-10>, "verdict": "pass" or "fail", "rationale": "<one or two sentences>"}}"""

MAX_RATIONALE = 1000
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class JudgeCallError(Exception):
    """The endpoint could not produce a usable verdict for one item."""


@dataclass(frozen=True)
class LLMJudgeConfig:
    base_url: str
    model: str = "default"
    api_key: str = ""
    timeout_seconds: float = 30.0
    max_retries: int = 2
    concurrency: int = 4
    backoff_seconds: float = 0.5
    mock: bool = True


def render_rubric(item: PredictionItem) -> str:
    return RUBRIC_TEMPLATE.format(
        prompt=item.prompt.strip(),
        expected_answer=(item.expected_answer or "(none given)").strip(),
        output=strip_special_tokens(item.output).strip() or "(empty)",
    )


def parse_verdict(content: str) -> dict[str, Any]:
    """The JSON object in a reply (bare or inside a code fence), validated and clamped."""
    match = re.search(r"\{.*\}", content, re.S)
    if match is None:
        raise JudgeCallError(f"reply has no JSON object: {content[:200]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise JudgeCallError(f"reply is not valid JSON ({exc.msg}): {content[:200]!r}") from None
    if not isinstance(data, dict):
        raise JudgeCallError("reply JSON is not an object")
    raw_score = data.get("score")
    if isinstance(raw_score, bool) or not isinstance(raw_score, (int, float)):
        raise JudgeCallError(f"reply has no numeric score: {data!r:.200}")
    score = min(max(float(raw_score), 0.0), 10.0)
    verdict = str(data.get("verdict", "")).strip().lower()
    if verdict not in ("pass", "fail"):
        verdict = "pass" if score >= 5 else "fail"
    rationale = str(data.get("rationale", "")).strip()[:MAX_RATIONALE]
    return {"score": score, "verdict": verdict, "rationale": rationale}


class LLMJudge:
    """Mean rubric score of the items (0–10 each, scaled to 0–100)."""

    name: ClassVar[str] = "llm_judge"
    version: ClassVar[str] = "1"

    def __init__(
        self,
        config: LLMJudgeConfig,
        *,
        pass_score: float = 50.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.pass_score = pass_score
        self._transport = transport

    @property
    def url(self) -> str:
        return self.config.base_url.rstrip("/") + "/v1/chat/completions"

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult:
        if self.config.mock:
            details = [self._mock_item(item) for item in items]
        else:
            details = await self._judge_remote(items)
        judged = [d for d in details if "error" not in d]
        score = round(sum(d["score"] for d in judged) / len(judged) * 10, 2) if judged else 0.0
        errors = len(details) - len(judged)
        verdict = verdict_for(score, self.pass_score, judged=len(judged))
        if errors * 2 > len(details):
            verdict = "uncertain"  # most items went unjudged: the mean says little
        return JudgeResult(
            name=self.name,
            version=self.version,
            score=score,
            verdict=verdict,
            metrics={"llm_judge_score": round(score / 100, 4)},
            summary={
                "mode": "mock" if self.config.mock else "real",
                "model": self.config.model,
                "judged": len(judged),
                "errors": errors,
                "pass_count": sum(1 for d in judged if d["verdict"] == "pass"),
            },
            items=details,
        )

    def _mock_item(self, item: PredictionItem) -> dict[str, Any]:
        extracted = extract_answer(item.output)
        ok = answers_match(extracted, item.expected_answer)
        relation = "matches" if ok else "does not match"
        return {
            "id": item.id,
            "score": 10.0 if ok else 0.0,
            "verdict": "pass" if ok else "fail",
            "rationale": (
                f"mock judge (offline): answer {extracted!r} {relation} "
                f"the reference {item.expected_answer!r}"
            ),
        }

    async def _judge_remote(self, items: Sequence[PredictionItem]) -> list[dict[str, Any]]:
        headers = {"content-type": "application/json"}
        if self.config.api_key:
            headers["authorization"] = f"Bearer {self.config.api_key}"
        limit = asyncio.Semaphore(self.config.concurrency)
        async with httpx.AsyncClient(
            timeout=self.config.timeout_seconds, headers=headers, transport=self._transport
        ) as client:

            async def one(item: PredictionItem) -> dict[str, Any]:
                async with limit:
                    try:
                        return {"id": item.id, **await self._ask(client, item)}
                    except JudgeCallError as exc:
                        return {"id": item.id, "verdict": "uncertain", "error": str(exc)}

            return list(await asyncio.gather(*(one(item) for item in items)))

    async def _ask(self, client: httpx.AsyncClient, item: PredictionItem) -> dict[str, Any]:
        body = {
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": render_rubric(item)},
            ],
        }
        last_error = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.config.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = await client.post(self.url, json=body)
            except httpx.TimeoutException:
                last_error = f"Timeout after {self.config.timeout_seconds:g}s"
                continue
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRYABLE_STATUS:
                last_error = f"HTTP {response.status_code}"
                continue
            if not response.is_success:
                raise JudgeCallError(f"HTTP {response.status_code}: {response.text[:200]}")
            return parse_verdict(_message_content(response))
        raise JudgeCallError(f"{last_error} (after {self.config.max_retries + 1} attempts)")


def _message_content(response: httpx.Response) -> str:
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JudgeCallError(
            f"not an OpenAI chat completion response: {response.text[:200]!r}"
        ) from None
    if not isinstance(content, str):
        raise JudgeCallError("completion message has no text content")
    return content
