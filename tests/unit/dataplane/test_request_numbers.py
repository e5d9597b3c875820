"""Every integer a client sends is bounded before it is forwarded or recorded (400 naming it)."""

from __future__ import annotations

import orjson
import pytest

from dataplane.core.chat_request import (
    prepare_chat,
    prepare_completions,
    prepare_embeddings,
    prepare_messages,
    prepare_responses,
)
from oggy.contract import errors

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
INPUT = {"model": "m", "input": "hi"}


@pytest.mark.parametrize(
    ("prepare", "base", "field", "value"),
    [
        (prepare_chat, CHAT, "max_tokens", 2**63),
        (prepare_chat, CHAT, "max_tokens", 2**64 - 1),
        (prepare_chat, CHAT, "max_tokens", -1),
        (prepare_chat, CHAT, "max_completion_tokens", 10**9 + 1),
        (prepare_chat, CHAT, "n", 0),
        (prepare_chat, CHAT, "n", 2**63),
        (prepare_chat, CHAT, "top_logprobs", 2**63),
        (prepare_chat, CHAT, "seed", 2**63),
        (prepare_chat, CHAT, "seed", -(2**63) - 1),
        (prepare_chat, CHAT, "seed", 1.5),
        (prepare_chat, CHAT, "n", True),
        (prepare_completions, {"model": "m", "prompt": "x"}, "best_of", 2**63),
        (prepare_completions, {"model": "m", "prompt": "x"}, "logprobs", 2**63),
        (prepare_embeddings, INPUT, "dimensions", 2**63),
        (prepare_responses, INPUT, "max_output_tokens", 2**63),
        (prepare_responses, INPUT, "max_tool_calls", 2**63),
        (prepare_messages, CHAT, "max_tokens", 2**64 - 1),
        (prepare_messages, CHAT, "top_k", 2**63),
    ],
)
def test_an_integer_past_its_range_is_refused_naming_the_field(
    prepare, base: dict[str, object], field: str, value: object
) -> None:
    # Past 64 bits orjson cannot write the number: splice its text in.
    raw = orjson.dumps({**base, field: "N"}).replace(b'"N"', str(value).lower().encode())
    with pytest.raises(errors.InvalidRequest) as caught:
        prepare(raw)
    assert caught.value.param == field and caught.value.status == 400


def test_a_nested_integer_is_bounded_too() -> None:
    body = {**CHAT, "thinking": {"type": "enabled", "budget_tokens": 2**63}}
    with pytest.raises(errors.InvalidRequest) as caught:
        prepare_messages(orjson.dumps(body))
    assert caught.value.param == "thinking.budget_tokens"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", 0),
        ("max_tokens", 10**9),
        ("n", 128),
        ("seed", -(2**63)),
        ("seed", 2**63 - 1),
        ("logprobs", True),  # chat's boolean form
        ("top_logprobs", 20),
        ("max_tokens", None),  # null is "not given"
    ],
)
def test_values_in_range_pass_unchanged(field: str, value: object) -> None:
    raw = orjson.dumps({**CHAT, field: value})
    assert prepare_chat(raw).payload == raw
