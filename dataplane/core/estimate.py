"""Token estimates for when the provider's usage never arrived (a client hung up, a stall).

DESIGN invariant 7: provider counts when given, tiktoken only as a fallback.
The tokenizer is injected (`count(text) -> int`), so this stays pure. The
prompt follows OpenAI's published recipe (content tokens + 4 per message + 3);
the completion is the text of the stream's deltas. When only the first part of
a long stream was kept, the count is scaled by the share of bytes seen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from dataplane.core.choice_parts import choices, message_parts
from dataplane.core.sse import SseParser
from dataplane.core.usage_extract import Usage

Count = Callable[[str], int]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: count the text parts
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def prompt_tokens(messages: Any, count: Count) -> int:
    if not isinstance(messages, list):
        return 0
    total = 3
    for m in messages:
        if isinstance(m, dict):
            total += 4 + count(_text_of(m.get("content")))
            if isinstance(m.get("name"), str):
                total += 1
    return total


def completion_text(
    stream_bytes: bytes, text_of: Callable[[dict[str, Any]], str] | None = None
) -> str:
    """The concatenated delta contents (and tool-call arguments) of SSE chunks.

    `text_of` reads one event of another wire format (Responses, Anthropic)."""
    parts: list[str] = []
    for ev in SseParser().feed(stream_bytes + b"\n\n"):
        if not ev.data or ev.data == b"[DONE]":
            continue
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            continue
        if text_of is not None:
            if isinstance(obj, dict):
                parts.append(text_of(obj))
            continue
        # Deltas only: unlike the reported text, a legacy `text` is not counted.
        for choice in choices(obj):
            message_parts(choice.get("delta"), parts)
    return "".join(parts)


def estimate_usage(
    messages: Any,
    kept: bytes,
    total_bytes: int,
    count: Count,
    *,
    text_of: Callable[[dict[str, Any]], str] | None = None,
    max_output_tokens: int | None = None,
) -> Usage:
    """Prompt from the request's messages; completion from the stream bytes seen,
    never more than the request allowed (`max_output_tokens`)."""
    prompt = prompt_tokens(messages, count)
    completion = count(completion_text(kept, text_of)) if kept else 0
    if kept and total_bytes > len(kept):
        completion = round(completion * total_bytes / len(kept))
    if max_output_tokens is not None:
        completion = min(completion, max_output_tokens)
    return Usage(prompt, completion, prompt + completion)


def estimate_from_text(
    messages: Any, text: str, count: Count, *, max_output_tokens: int | None = None
) -> Usage:
    """For a whole response that came without usage: its generated text is known."""
    prompt = prompt_tokens(messages, count)
    completion = count(text) if text else 0
    if max_output_tokens is not None:
        completion = min(completion, max_output_tokens)
    return Usage(prompt, completion, prompt + completion)
