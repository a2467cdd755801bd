"""The LLM judge against a local OpenAI-compatible stub server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integrations.test_rediai import closed_port_url
from tunix_rt.evals.judges.base import PredictionItem
from tunix_rt.evals.judges.llm import JudgeCallError, LLMJudge, LLMJudgeConfig, parse_verdict

ITEMS = [
    PredictionItem("1", "What is 2 + 3?", "Reasoning:\n1. 2 + 3 = 5\nAnswer: 5<end_of_turn>", "5"),
    PredictionItem("2", "What is 4 + 4?", "Reasoning:\n1. 4 + 4 = 9\nAnswer: 9<end_of_turn>", "8"),
]


class StubChat(ThreadingHTTPServer):
    """Replies per request from ``script`` (one entry per call; the last one repeats)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.script: list[tuple[int, str, float]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_reply(self) -> tuple[int, str, float]:
        with self.lock:
            index = min(len(self.requests) - 1, len(self.script) - 1)
            return self.script[index]


def chat(content: str) -> str:
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    )


class _Handler(BaseHTTPRequestHandler):
    server: StubChat

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length))
        with self.server.lock:
            self.server.requests.append({"path": self.path, **body})
            self.server.headers_seen.append(dict(self.headers))
        status, text, delay = self.server.next_reply()
        if delay:
            time.sleep(delay)
        raw = text.encode()
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[StubChat]:
    server = StubChat()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def judge_for(url: str, **overrides: Any) -> LLMJudge:
    config = {
        "base_url": url,
        "model": "judge-model",
        "timeout_seconds": 2.0,
        "max_retries": 2,
        "backoff_seconds": 0.0,
        "mock": False,
        "concurrency": 1,
        **overrides,
    }
    return LLMJudge(LLMJudgeConfig(**config))


async def test_good_json(stub: StubChat) -> None:
    stub.script = [
        (200, chat('{"score": 10, "verdict": "pass", "rationale": "Correct sum."}'), 0),
        (200, chat('```json\n{"score": 0, "verdict": "fail", "rationale": "4+4 is 8."}\n```'), 0),
    ]
    result = await judge_for(stub.url, api_key="sekret").judge(ITEMS)
    assert result.score == 50.0
    assert result.verdict == "pass"
    assert result.metrics == {"llm_judge_score": 0.5}
    assert result.summary["judged"] == 2 and result.summary["errors"] == 0
    assert result.items[0] == {
        "id": "1",
        "score": 10.0,
        "verdict": "pass",
        "rationale": "Correct sum.",
    }
    assert result.items[1]["rationale"] == "4+4 is 8."
    sent = stub.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["model"] == "judge-model"
    assert sent["temperature"] == 0
    user = sent["messages"][1]["content"]
    assert "What is 2 + 3?" in user and "Reference answer: 5" in user
    assert "<end_of_turn>" not in user
    assert stub.headers_seen[0]["authorization"] == "Bearer sekret"


async def test_bad_json_marks_items_uncertain(stub: StubChat) -> None:
    stub.script = [(200, chat("The answer looks right to me!"), 0)]
    result = await judge_for(stub.url).judge(ITEMS)
    assert result.verdict == "uncertain"
    assert result.summary["errors"] == 2
    assert result.score == 0.0
    assert "no JSON object" in result.items[0]["error"]
    assert len(stub.requests) == 2  # content errors are not retried


async def test_not_a_chat_completion(stub: StubChat) -> None:
    stub.script = [(200, '{"result": "ok"}', 0)]
    result = await judge_for(stub.url).judge(ITEMS[:1])
    assert "not an OpenAI chat completion" in result.items[0]["error"]


async def test_timeout_is_retried_then_reported(stub: StubChat) -> None:
    stub.script = [(200, chat('{"score": 10}'), 2.0)]
    result = await judge_for(stub.url, timeout_seconds=0.3, max_retries=1).judge(ITEMS[:1])
    assert result.items[0]["error"] == "Timeout after 0.3s (after 2 attempts)"
    assert result.verdict == "uncertain"
    # Under load the server may not even accept the retry before the client gives up
    # on it, so the attempt count is the client's (test_server_errors_are_retried counts
    # retries server-side).
    assert len(stub.requests) >= 1


async def test_server_errors_are_retried(stub: StubChat) -> None:
    stub.script = [
        (503, '{"error": "busy"}', 0),
        (500, "oops", 0),
        (200, chat('{"score": 7, "rationale": "ok"}'), 0),
    ]
    result = await judge_for(stub.url).judge(ITEMS[:1])
    assert result.items[0] == {"id": "1", "score": 7.0, "verdict": "pass", "rationale": "ok"}
    assert result.score == 70.0
    assert len(stub.requests) == 3


async def test_client_errors_are_not_retried(stub: StubChat) -> None:
    stub.script = [(401, '{"error": "unauthorized"}', 0)]
    result = await judge_for(stub.url).judge(ITEMS[:1])
    assert result.items[0]["error"].startswith("HTTP 401")
    assert len(stub.requests) == 1


async def test_connection_refused() -> None:
    result = await judge_for(closed_port_url(), max_retries=0).judge(ITEMS[:1])
    assert result.items[0]["error"].startswith("ConnectError")
    assert result.verdict == "uncertain"


def test_parse_verdict_rules() -> None:
    assert parse_verdict('{"score": 12, "rationale": "x"}') == {
        "score": 10.0,
        "verdict": "pass",
        "rationale": "x",
    }
    assert parse_verdict('{"score": 2.5, "verdict": "PASS"}')["verdict"] == "pass"
    assert parse_verdict('{"score": 3}')["verdict"] == "fail"
    for bad in ('{"verdict": "pass"}', '{"score": "ten"}', '{"score": true}', "[1]", "{oops}"):
        with pytest.raises(JudgeCallError):
            parse_verdict(bad)
