"""Per-provider pure translation: URLs, auth headers, usage of bodies and streams (tables)."""

from __future__ import annotations

from types import MappingProxyType

import orjson
import pytest

from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import USAGE_DETAIL_MALFORMED as DETAIL_MALFORMED
from dataplane.core.usage_extract import USAGE_INCONSISTENT as INCONSISTENT
from dataplane.core.usage_extract import USAGE_MALFORMED as MALFORMED
from dataplane.core.usage_extract import Usage
from dataplane.providers import anthropic, openai
from oggy.contract import dialects
from oggy.contract.dialects import DIALECTS, UpstreamTarget
from oggy.contract.pricing import TokenCounts
from oggy.v1 import provider_pb2

Kind = provider_pb2.ProviderCredential


def sse(*objs: dict, named: bool = False) -> bytes:
    out = b""
    for o in objs:
        if named:
            out += b"event: " + o["type"].encode() + b"\n"
        out += b"data: " + orjson.dumps(o) + b"\n\n"
    return out


# ---------------------------------------------------------------- URLs and auth

T = UpstreamTarget("https://h.example/v1")
AZ = UpstreamTarget(
    "https://res.openai.azure.com", "2024-10-21", MappingProxyType({"gpt-4o": "prod-4o"})
)


@pytest.mark.parametrize(
    ("dialect", "target", "op", "model", "url"),
    [
        (dialects.OPENAI, T, "chat/completions", "gpt-4o", "https://h.example/v1/chat/completions"),
        (dialects.OPENAI, T, "responses", "x", "https://h.example/v1/responses"),
        (
            dialects.AZURE,
            AZ,
            "chat/completions",
            "gpt-4o",
            "https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions"
            "?api-version=2024-10-21",
        ),
        (
            dialects.AZURE,
            UpstreamTarget("https://res.openai.azure.com/openai/"),
            "embeddings",
            "emb",
            "https://res.openai.azure.com/openai/deployments/emb/embeddings"
            f"?api-version={dialects.AZURE_DEFAULT_API_VERSION}",
        ),
        (
            dialects.AZURE,
            AZ,
            "chat/completions",
            "../../x?y",
            "https://res.openai.azure.com/openai/deployments/..%2F..%2Fx%3Fy/chat/completions"
            "?api-version=2024-10-21",
        ),
        (
            dialects.AZURE,
            AZ,
            "chat/completions",
            "..",
            "https://res.openai.azure.com/openai/deployments/%2E%2E/chat/completions"
            "?api-version=2024-10-21",
        ),
        (
            dialects.AZURE,
            AZ,
            "responses",
            "gpt-4o",
            "https://res.openai.azure.com/openai/responses?api-version=2024-10-21",
        ),
        (
            dialects.ANTHROPIC,
            UpstreamTarget("https://api.anthropic.com"),
            "messages",
            "c",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            dialects.ANTHROPIC,
            UpstreamTarget("https://api.anthropic.com/v1/"),
            "messages",
            "c",
            "https://api.anthropic.com/v1/messages",
        ),
    ],
)
def test_urls(dialect, target, op, model, url) -> None:
    assert dialect.url(target, op, model) == url


def test_auth_headers_and_kinds() -> None:
    assert dialects.OPENAI.auth_headers("sk") == {"Authorization": "Bearer sk"}
    assert dialects.AZURE.auth_headers("az") == {"api-key": "az"}
    assert dialects.ANTHROPIC.auth_headers("ak") == {"x-api-key": "ak"}
    assert dialects.OPENAI.auth_headers("") == {}
    assert {k: d.kind for k, d in DIALECTS.items()} == {
        Kind.KIND_UNSPECIFIED: "openai_compatible",
        Kind.KIND_OPENAI: "openai",
        Kind.KIND_OPENAI_COMPATIBLE: "openai_compatible",
        Kind.KIND_AZURE_OPENAI: "azure_openai",
        Kind.KIND_ANTHROPIC: "anthropic",
    }
    assert (
        "anthropic-version",
        dialects.ANTHROPIC_DEFAULT_VERSION,
    ) in dialects.ANTHROPIC.default_headers
    assert [d.passthrough for d in (dialects.OPENAI, dialects.AZURE, dialects.ANTHROPIC)] == [
        True,
        False,
        False,
    ]


# ---------------------------------------------------------------- whole-body usage

BIG = 10**9 + 1


@pytest.mark.parametrize(
    ("wire", "body", "expected"),
    [
        (
            openai.CHAT,
            {
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 5,
                    "total_tokens": 15,
                    "prompt_tokens_details": {"cached_tokens": 4},
                    "completion_tokens_details": {"reasoning_tokens": 2},
                }
            },
            Usage(10, 5, 15, cached_tokens=4, reasoning_tokens=2),
        ),
        # A present but implausible count is unusable (estimated later), never a silent 0.
        (
            openai.CHAT,
            {"usage": {"prompt_tokens": BIG, "completion_tokens": 3}},
            Usage(0, 3, 3, anomalies=(MALFORMED,)),
        ),
        (
            openai.CHAT,
            {"usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 99}},
            Usage(10, 5, 99, anomalies=(INCONSISTENT,)),
        ),
        (
            openai.CHAT,
            {
                "usage": {
                    "prompt_tokens": 1,
                    "completion_tokens": 2,
                    "total_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": -4},
                }
            },
            Usage(1, 2, 3, anomalies=(DETAIL_MALFORMED,)),
        ),
        (openai.CHAT, {"usage": None}, None),
        (openai.EMBEDDINGS, {"usage": {"prompt_tokens": 8, "total_tokens": 8}}, Usage(8, 0, 8)),
        (
            openai.RESPONSES,
            {
                "usage": {
                    "input_tokens": 20,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens": 9,
                    "output_tokens_details": {"reasoning_tokens": 7},
                    "total_tokens": 29,
                }
            },
            Usage(20, 9, 29, cached_tokens=0, reasoning_tokens=7),
        ),
        (
            openai.RESPONSES,
            {"usage": {"input_tokens": -1, "output_tokens": "9"}},
            Usage(0, 0, 0, anomalies=(MALFORMED,)),
        ),
        (
            anthropic.MESSAGES,
            {
                "usage": {
                    "input_tokens": 10,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 20,
                    "output_tokens": 5,
                }
            },
            Usage(130, 5, 135, cached_tokens=100, cache_creation_tokens=20),
        ),
        (
            anthropic.MESSAGES,
            {"usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": None}},
            Usage(10, 5, 15),
        ),
        (
            anthropic.MESSAGES,
            {"usage": {"output_tokens": 2.5}},
            Usage(0, 0, 0, anomalies=(MALFORMED,)),
        ),
        (anthropic.MESSAGES, "not an object", None),
    ],
)
def test_body_usage(wire, body, expected) -> None:
    assert wire.usage(body) == expected


@pytest.mark.parametrize(
    ("usage", "counts"),
    [
        # OpenAI: prompt includes cached; completion includes reasoning.
        (
            Usage(100, 50, 150, cached_tokens=30, reasoning_tokens=20),
            TokenCounts(70, 30, 0, 50, 20),
        ),
        # Anthropic (normalised): prompt = input + reads + writes.
        (
            Usage(130, 5, 135, cached_tokens=100, cache_creation_tokens=20),
            TokenCounts(10, 100, 20, 5, 0),
        ),
        (Usage(5, 1, 6, cached_tokens=9), TokenCounts(0, 9, 0, 1, 0)),  # inconsistent: clamp
        (Usage(5, 1, 6, reasoning_tokens=4), TokenCounts(5, 0, 0, 1, 1)),
    ],
)
def test_token_counts_for_pricing(usage: Usage, counts: TokenCounts) -> None:
    assert usage.token_counts() == counts


# ---------------------------------------------------------------- streams (any chunk split)


def _tap_all(wire, stream: bytes, split: int, *, drop: bool = False) -> tuple[StreamTap, bytes]:
    tap = StreamTap(drop_usage_chunk=drop, observe=wire.observe)
    out = b"".join(tap.feed(stream[i : i + split]) for i in range(0, len(stream), split))
    return tap, out + tap.finish()


RESPONSES_STREAM = sse(
    {"type": "response.created", "response": {"id": "r", "usage": None}},
    {"type": "response.output_text.delta", "delta": "Hi"},
    {"type": "response.output_text.delta", "delta": " there"},
    {
        "type": "response.completed",
        "response": {
            "id": "r",
            "usage": {
                "input_tokens": 11,
                "input_tokens_details": {"cached_tokens": 3},
                "output_tokens": 6,
                "output_tokens_details": {"reasoning_tokens": 4},
                "total_tokens": 17,
            },
        },
    },
    named=True,
)
ANTHROPIC_STREAM = sse(
    {
        "type": "message_start",
        "message": {
            "id": "m",
            "usage": {
                "input_tokens": 7,
                "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 40,
                "output_tokens": 1,
            },
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 12}},
    {"type": "message_stop"},
    named=True,
)


@pytest.mark.parametrize("split", [1, 3, 7, 64, 10_000])
def test_responses_stream_usage(split: int) -> None:
    tap, out = _tap_all(openai.RESPONSES, RESPONSES_STREAM, split, drop=True)
    assert out == RESPONSES_STREAM  # nothing hidden, byte for byte
    assert tap.usage == Usage(11, 6, 17, cached_tokens=3, reasoning_tokens=4)


@pytest.mark.parametrize("split", [1, 5, 13, 10_000])
def test_anthropic_stream_usage(split: int) -> None:
    tap, out = _tap_all(anthropic.MESSAGES, ANTHROPIC_STREAM, split)
    assert out == ANTHROPIC_STREAM
    assert tap.usage == Usage(49, 12, 61, cached_tokens=40, cache_creation_tokens=2)


def test_anthropic_message_delta_may_restate_input() -> None:
    start = Usage(10, 1, 11, cached_tokens=0, cache_creation_tokens=0)
    usage, hidden = anthropic.observe(
        {"type": "message_delta", "usage": {"input_tokens": 12, "output_tokens": 30}}, start
    )
    assert usage == Usage(12, 30, 42, cached_tokens=0, cache_creation_tokens=0) and not hidden
    # A delta with no usage leaves it alone.
    assert anthropic.observe({"type": "message_delta"}, start) == (start, False)


def test_anthropic_error_event_is_recorded() -> None:
    err = sse({"type": "error", "error": {"type": "overloaded_error", "message": "x"}}, named=True)
    first_event = ANTHROPIC_STREAM[: ANTHROPIC_STREAM.index(b"\n\n") + 2]
    tap, out = _tap_all(anthropic.MESSAGES, first_event + err, 9)
    assert tap.usage is not None and tap.usage.prompt_tokens == 49
    assert out.endswith(err) and tap.error_type == "overloaded_error"


def test_stream_text_for_estimates() -> None:
    from dataplane.core.estimate import completion_text

    assert completion_text(ANTHROPIC_STREAM, anthropic.stream_text) == "Hello"
    assert completion_text(RESPONSES_STREAM, openai.responses_stream_text) == "Hi there"
    legacy = sse({"choices": [{"text": "ab"}]}, {"choices": [{"text": "c"}]})
    assert completion_text(legacy, openai.chat_stream_text) == "abc"


@pytest.mark.parametrize(
    ("wire", "body", "text"),
    [
        (openai.CHAT, {"choices": [{"message": {"content": "hey"}}]}, "hey"),
        (openai.COMPLETIONS, {"choices": [{"text": "t1"}, {"text": "t2"}]}, "t1t2"),
        (
            openai.RESPONSES,
            {"output": [{"type": "message", "content": [{"type": "output_text", "text": "o"}]}]},
            "o",
        ),
        (anthropic.MESSAGES, {"content": [{"type": "text", "text": "a"}, {"type": "x"}]}, "a"),
        (openai.EMBEDDINGS, {"data": []}, ""),
    ],
)
def test_response_text(wire, body, text: str) -> None:
    assert wire.response_text(body) == text
