"""Token estimates when provider usage is missing (tokenizer injected: words)."""

from __future__ import annotations

import orjson

from dataplane.core.estimate import completion_text, estimate_usage, prompt_tokens
from dataplane.core.usage_extract import Usage


def words(text: str) -> int:
    return len(text.split())


def event(delta: dict) -> bytes:
    return b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta}]}) + b"\n\n"


STREAM = (
    event({"role": "assistant", "content": ""})
    + event({"content": "hello big"})
    + event({"content": " world"})
    + event({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]})
    + b"data: [DONE]\n\n"
)


def test_completion_text_joins_deltas_and_tool_arguments() -> None:
    assert completion_text(STREAM) == 'hello big world{"a": 1}'
    assert completion_text(b"garbage\n\ndata: {not json}\n\n") == ""


def test_prompt_tokens_recipe() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "one two three"}], "name": "bob"},
        "junk",
    ]
    assert prompt_tokens(messages, words) == 3 + (4 + 2) + (4 + 3 + 1)
    assert prompt_tokens(None, words) == 0


def test_estimate_scales_when_only_the_start_was_kept() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    full = estimate_usage(msgs, STREAM, len(STREAM), words)
    assert full == Usage(8, 4, 12)  # words of 'hello big world{"a": 1}'
    doubled = estimate_usage(msgs, STREAM, 2 * len(STREAM), words)
    assert doubled.completion_tokens == 8 and doubled.total_tokens == 16
    assert estimate_usage(msgs, b"", 0, words) == Usage(8, 0, 8)
