import orjson
import pytest

from dataplane.core.prompt_metadata import (
    FinishReasonTracker,
    RequestMetadata,
    ResponseMeter,
    estimate_context_tokens,
    finish_reason_of,
    metadata_from_request,
)


def meta(body: object, endpoint: str = "/v1/chat/completions") -> RequestMetadata:
    raw = orjson.dumps(body)
    return metadata_from_request(orjson.loads(raw), len(raw), endpoint)


TOOL = {"type": "function", "function": {"name": "f", "parameters": {}}}


@pytest.mark.parametrize(
    ("endpoint", "body", "expected"),
    [
        (
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
                "max_tokens": 50,
                "tools": [TOOL, TOOL],
                "functions": [{"name": "legacy"}],
            },
            (2, 50, 3),
        ),
        (
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "user", "content": "u"}],
                "max_completion_tokens": 9,
                "max_tokens": 50,
            },
            (1, 9, 0),
        ),
        ("/v1/responses", {"model": "m", "input": "hi", "max_output_tokens": 77}, (1, 77, 0)),
        (
            "/v1/responses",
            {
                "model": "m",
                "instructions": "be nice",
                "input": [{"role": "user", "content": "x"}],
                "tools": [TOOL],
            },
            (2, 0, 1),
        ),
        ("/v1/completions", {"model": "m", "prompt": ["a", "b", "c"], "max_tokens": 5}, (3, 5, 0)),
        ("/v1/embeddings", {"model": "m", "input": ["a", "b"]}, (2, 0, 0)),
        (
            "/v1/messages",
            {
                "model": "claude",
                "system": "sys",
                "max_tokens": 1024,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
            },
            (2, 1024, 0),
        ),
        # Broken shapes give zeros, never an exception.
        ("/v1/chat/completions", {"messages": "nope", "max_tokens": True, "tools": {}}, (1, 0, 0)),
        ("/v1/chat/completions", {"max_tokens": -5, "messages": None}, (0, 0, 0)),
    ],
)
def test_request_facts(endpoint: str, body: dict, expected: tuple[int, int, int]) -> None:
    m = meta(body, endpoint)
    assert (m.message_count, m.requested_max_tokens, m.tool_count) == expected
    assert m.request_bytes == len(orjson.dumps(body))


@pytest.mark.parametrize("parsed", [None, [], "text", 3])
def test_request_that_is_not_an_object(parsed: object) -> None:
    m = metadata_from_request(parsed, 123, "/v1/chat/completions")
    assert m == RequestMetadata(request_bytes=123)


def test_request_metadata_keeps_a_reference_not_a_copy() -> None:
    body = {"messages": [{"role": "user", "content": "hello"}]}
    assert metadata_from_request(body, 10).source is body["messages"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"choices": [{"finish_reason": "stop", "message": {}}]}, "stop"),
        ({"choices": [{"finish_reason": "length"}, {"finish_reason": "stop"}]}, "length"),
        ({"choices": [{"finish_reason": None}]}, ""),
        ({"choices": []}, ""),
        ({"type": "message", "stop_reason": "end_turn"}, "end_turn"),
        ({"object": "response", "status": "incomplete"}, "incomplete"),
        ({"object": "list", "data": []}, ""),  # embeddings
        ({"error": {"code": "x"}}, ""),
        ({"choices": [{"finish_reason": "x" * 500}]}, ""),
        (None, ""),
    ],
)
def test_finish_reason_of_a_whole_response(body: object, reason: str) -> None:
    assert finish_reason_of(body) == reason


def chat_stream(reasons: list[str | None], spaced: bool = False) -> bytes:
    out = []
    for i, r in enumerate(reasons):
        chunk = {
            "id": "c",
            "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": r}],
        }
        data = orjson.dumps(chunk).decode()
        if spaced:
            data = data.replace(":", ": ")
        out.append(f"data: {data}\n\n")
    out.append('data: {"id":"c","choices":[],"usage":{"prompt_tokens":3}}\n\n')
    out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def feed_split(tracker_feed, data: bytes, size: int) -> None:
    for i in range(0, len(data), size):
        tracker_feed(data[i : i + size])


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, 50, 97, 4096])
@pytest.mark.parametrize("spaced", [False, True])
def test_tracker_finds_last_reason_in_any_split(size: int, spaced: bool) -> None:
    t = FinishReasonTracker()
    feed_split(t.feed, chat_stream([None, None, None, "length"], spaced), size)
    assert t.reason == "length"


def test_tracker_keeps_last_non_null_reason() -> None:
    t = FinishReasonTracker()
    t.feed(chat_stream([None, "tool_calls"]))
    t.feed(b'data: {"choices":[{"delta":{},"finish_reason":null}]}\n\n')
    assert t.reason == "tool_calls"


def test_tracker_is_not_fooled_by_content() -> None:
    t = FinishReasonTracker()
    content = orjson.dumps(
        {"choices": [{"delta": {"content": '"finish_reason":"evil"'}, "finish_reason": None}]}
    )
    t.feed(b"data: " + content + b"\n\n")
    assert t.reason == ""


@pytest.mark.parametrize("size", [1, 5, 4096])
def test_tracker_anthropic_stream(size: int) -> None:
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"stop_reason":null}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
        b'"delta":{"type":"text_delta","text":"hi"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta",'
        b'"delta":{"stop_reason":"max_tokens","stop_sequence":null}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    t = FinishReasonTracker()
    feed_split(t.feed, stream, size)
    assert t.reason == "max_tokens"


@pytest.mark.parametrize("size", [1, 9, 4096])
def test_tracker_responses_stream(size: int) -> None:
    stream = (
        b'event: response.created\ndata: {"type":"response.created",'
        b'"response":{"status":"in_progress"}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"delta":"hi"}\n\n'
        b'event: response.incomplete\ndata: {"type":"response.incomplete",'
        b'"response":{"status":"incomplete"}}\n\n'
    )
    t = FinishReasonTracker(responses=True)
    feed_split(t.feed, stream, size)
    assert t.reason == "incomplete"


def test_meter_counts_stream_bytes_and_reason() -> None:
    data = chat_stream([None, "stop"])
    m = ResponseMeter("/v1/chat/completions")
    feed_split(m.feed, data, 10)
    assert m.response_bytes == len(data)
    assert m.finish_reason == "stop"


def test_meter_whole_body() -> None:
    m = ResponseMeter()
    m.body(321, {"choices": [{"finish_reason": "content_filter"}]})
    assert (m.response_bytes, m.finish_reason) == (321, "content_filter")


def test_estimate_context_tokens() -> None:
    m = meta(
        {
            "messages": [
                {"role": "user", "content": "x" * 40},
                {"role": "user", "content": [{"type": "text", "text": "y" * 8}]},
            ]
        }
    )
    assert estimate_context_tokens(m) == 12 + 8 + 3
    assert estimate_context_tokens(meta({"prompt": "abcd"}, "/v1/completions")) == 1 + 3
    assert estimate_context_tokens(RequestMetadata()) == 0
