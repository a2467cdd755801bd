"""Pure renderers from stored trace records to the export formats (SPEC §5).

A *record* is one line of a dataset's ``traces.jsonl``: ``{"id", "created_at",
"trace_version", "payload"}`` where ``payload`` is the ReasoningTrace document. Every
function here is pure and deterministic: the same record always renders to the same bytes
(the golden-file tests pin them), and the trainer, the evaluator and the UI preview all
use these same functions, so what the preview shows is what the model sees.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
TRAINING_EXAMPLE_SUFFIX = "\n\nPlease show your reasoning steps."

ExportFormat = Literal["trace", "tunix_sft", "training_example", "messages"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("trace", "tunix_sft", "training_example", "messages")

# Ids of training examples are uuid5(this namespace, trace id): stable across exports.
TRAINING_EXAMPLE_NAMESPACE = uuid.UUID("6f3a1c52-6d1e-4b8e-9a57-3d1b2f0c9e41")


def render_prompt(prompt: str) -> str:
    """The user turn plus the opening of the model turn (everything that carries no loss)."""
    return f"{START_OF_TURN}user\n{prompt}{END_OF_TURN}\n{START_OF_TURN}model\n"


def reasoning_text(steps: Sequence[str], final_answer: str, *, answer_only: bool = False) -> str:
    """``Reasoning:\\n1. …\\nAnswer: …`` without the end-of-turn marker."""
    if answer_only or not steps:
        return f"Answer: {final_answer}"
    numbered = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, start=1))
    return f"Reasoning:\n{numbered}\nAnswer: {final_answer}"


def render_completion(steps: Sequence[str], final_answer: str, answer_only: bool = False) -> str:
    """The model turn's content (the tokens that carry loss), closed by ``<end_of_turn>``."""
    return reasoning_text(steps, final_answer, answer_only=answer_only) + END_OF_TURN


def step_texts(payload: Mapping[str, Any]) -> list[str]:
    """Step contents in step-index order."""
    steps = sorted(payload.get("steps") or [], key=lambda s: int(s.get("i", 0)))
    return [str(s["content"]) for s in steps]


def sft_pair(record: Mapping[str, Any], *, answer_only: bool = False) -> tuple[str, str]:
    """(rendered prompt, rendered completion) of a record, as the trainer consumes them."""
    payload = record["payload"]
    return (
        render_prompt(str(payload["prompt"])),
        render_completion(step_texts(payload), str(payload["final_answer"]), answer_only),
    )


def _metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    meta = record["payload"].get("meta") or {}
    return {"created_at": record["created_at"], "trace_version": record["trace_version"], **meta}


def training_example_id(trace_id: str) -> str:
    return str(uuid.uuid5(TRAINING_EXAMPLE_NAMESPACE, str(trace_id)))


def to_trace(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = record["payload"]
    return {
        "id": record["id"],
        "prompts": payload["prompt"],
        "trace_steps": step_texts(payload),
        "final_answer": payload["final_answer"],
        "metadata": _metadata(record),
    }


def to_tunix_sft(record: Mapping[str, Any], *, answer_only: bool = False) -> dict[str, Any]:
    prompt, completion = sft_pair(record, answer_only=answer_only)
    return {
        "id": record["id"],
        "prompts": prompt + completion,
        "prompt": prompt,
        "completion": completion,
        "final_answer": record["payload"]["final_answer"],
        "metadata": {**_metadata(record), "format": "tunix_sft"},
    }


def to_training_example(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = record["payload"]
    return {
        "id": training_example_id(record["id"]),
        "prompt": f"{payload['prompt']}{TRAINING_EXAMPLE_SUFFIX}",
        "response": reasoning_text(step_texts(payload), str(payload["final_answer"])),
        "metadata": {"source_trace_id": record["id"], **_metadata(record)},
    }


def to_messages(record: Mapping[str, Any]) -> dict[str, Any]:
    payload = record["payload"]
    return {
        "id": record["id"],
        "messages": [
            {"role": "user", "content": payload["prompt"]},
            {
                "role": "assistant",
                "content": reasoning_text(step_texts(payload), str(payload["final_answer"])),
            },
        ],
    }


RENDERERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "trace": to_trace,
    "tunix_sft": to_tunix_sft,
    "training_example": to_training_example,
    "messages": to_messages,
}


def render(record: Mapping[str, Any], fmt: str) -> dict[str, Any]:
    """Render one record in the named format (``KeyError`` for an unknown one)."""
    return RENDERERS[fmt](record)


def ndjson_line(obj: Any) -> str:
    """One NDJSON line (UTF-8 text kept as is, ``\\n`` terminated)."""
    return json.dumps(obj, ensure_ascii=False) + "\n"


def iter_ndjson(
    records: Iterable[Mapping[str, Any]], fmt: str, *, limit: int | None = None
) -> Iterator[str]:
    """Render records lazily, one line at a time (constant memory)."""
    renderer = RENDERERS[fmt]
    for n, record in enumerate(records):
        if limit is not None and n >= limit:
            return
        yield ndjson_line(renderer(record))


def chunked(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Group lines into ~``size``-byte chunks so a streaming response is not one write a line."""
    buffer: list[str] = []
    buffered = 0
    for line in lines:
        buffer.append(line)
        buffered += len(line)
        if buffered >= size:
            yield "".join(buffer).encode("utf-8")
            buffer, buffered = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")
