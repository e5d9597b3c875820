"""Usage extraction, UUIDv7 ids, chat request preparation."""

from __future__ import annotations

import re

import orjson
import pytest

from dataplane.core.chat_request import prepare_chat
from dataplane.core.usage_extract import (
    USAGE_DETAIL_MALFORMED,
    Usage,
    error_code,
    extract_usage,
)
from dataplane.core.usage_extract import USAGE_MALFORMED as BAD
from oggy.contract import errors
from oggy.contract.ids import Uuid7

UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}, Usage(3, 4, 7)),
        ({"prompt_tokens": 3, "completion_tokens": 4}, Usage(3, 4, 7)),  # total recomputed
        ({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, Usage(0, 0, 0)),
        ({"prompt_tokens": 3, "completion_tokens": None}, Usage(3, 0, 3)),
        # Present but implausible: unusable (settlement estimates), never a silent 0.
        ({"prompt_tokens": -1, "completion_tokens": 2}, Usage(0, 2, 2, anomalies=(BAD,))),
        ({"prompt_tokens": "3", "completion_tokens": 2.0}, Usage(0, 0, 0, anomalies=(BAD,))),
        ({"prompt_tokens": True, "completion_tokens": 1}, Usage(0, 1, 1, anomalies=(BAD,))),
        ({"total_tokens": 9}, Usage(0, 0, 9)),
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 4},
            },
            Usage(10, 5, 15, cached_tokens=0, reasoning_tokens=4),
        ),
        (
            {
                "prompt_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": -3},
                "completion_tokens_details": None,
            },
            Usage(1, 0, 1, anomalies=(USAGE_DETAIL_MALFORMED,)),
        ),
        ({}, None),
        (None, None),
        ([1, 2], None),
    ],
)
def test_extract_usage(usage: object, expected: Usage | None) -> None:
    assert extract_usage(usage) == expected


def test_error_code() -> None:
    assert (
        error_code({"error": {"code": "rate_limit_exceeded", "type": "t"}}) == "rate_limit_exceeded"
    )
    assert error_code({"error": {"code": None, "type": "server_error"}}) == "server_error"
    assert error_code({"error": {"code": 500}}) == "500"
    assert error_code({"error": "string"}) is None
    assert error_code(None) is None


def test_uuid7_format_and_order_with_fixed_clock() -> None:
    gen = Uuid7(now_ms=lambda: 1_700_000_000_000, random=lambda n: bytes(i % 256 for i in range(n)))
    ids = [gen() for _ in range(5000)]  # more than the 12-bit counter in one ms
    assert all(UUID7.fullmatch(i) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids[0].replace("-", "")[:12] == f"{1_700_000_000_000:012x}"


def test_uuid7_clock_going_back_keeps_order() -> None:
    times = iter([5000, 4000, 4000, 6000])
    gen = Uuid7(now_ms=lambda: next(times))
    ids = [gen() for _ in range(4)]
    assert ids == sorted(ids)


def body(**kw: object) -> bytes:
    return orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **kw})


def test_plain_request_is_forwarded_byte_for_byte() -> None:
    raw = body(temperature=0.5)
    req = prepare_chat(raw)
    assert req.payload is raw
    assert (req.model, req.stream, req.max_output_tokens) == ("gpt-4o", False, None)


def test_steering_fields_are_removed() -> None:
    req = prepare_chat(body(api_base="http://evil", base_url="x", api_key="k", organization="o"))
    sent = orjson.loads(req.payload)
    assert not {"api_base", "base_url", "api_key", "organization"} & set(sent)
    assert sent["model"] == "gpt-4o"


@pytest.mark.parametrize(
    ("options", "wants", "sent"),
    [
        (None, False, {"include_usage": True}),
        ({"include_usage": False}, False, {"include_usage": True}),
        ({"include_usage": True}, True, {"include_usage": True}),
        ({"other": 1}, False, {"other": 1, "include_usage": True}),
    ],
)
def test_stream_always_asks_for_usage(options: object, wants: bool, sent: dict) -> None:
    kw = {"stream": True} if options is None else {"stream": True, "stream_options": options}
    req = prepare_chat(body(**kw))
    assert req.stream and req.client_wants_usage is wants
    assert orjson.loads(req.payload)["stream_options"] == sent


@pytest.mark.parametrize(
    "raw",
    [
        b"nope",
        b"[]",
        orjson.dumps({"messages": [{"role": "user"}]}),
        orjson.dumps({"model": "", "messages": [{}]}),
        orjson.dumps({"model": "m" * 300, "messages": [{}]}),
        orjson.dumps({"model": "m", "messages": []}),
        body(stream="yes"),
        body(stream=True, stream_options="x"),
        body(max_tokens=-1),
        body(max_tokens="10"),
    ],
)
def test_invalid_requests(raw: bytes) -> None:
    with pytest.raises(errors.InvalidRequest) as exc:
        prepare_chat(raw)
    assert exc.value.status == 400


def test_max_tokens_read() -> None:
    assert prepare_chat(body(max_tokens=10)).max_output_tokens == 10
    assert prepare_chat(body(max_completion_tokens=20, max_tokens=10)).max_output_tokens == 20
