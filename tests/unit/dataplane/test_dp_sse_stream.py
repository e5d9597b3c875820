"""SSE parsing and the usage tap: every chunk split gives the same events and client bytes."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.core.sse import SseEvent, SseParser
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import Usage


def chunk(content: str, usage: dict | None = None, choices: bool = True) -> bytes:
    obj: dict = {"id": "c1", "object": "chat.completion.chunk", "usage": usage}
    obj["choices"] = [{"index": 0, "delta": {"content": content}}] if choices else []
    return b"data: " + orjson.dumps(obj) + b"\n\n"


USAGE = {
    "prompt_tokens": 5,
    "completion_tokens": 3,
    "total_tokens": 8,
    "prompt_tokens_details": {"cached_tokens": 2},
}
USAGE_CHUNK = chunk("", USAGE, choices=False)
STREAM = b"".join(
    [
        b": keep-alive comment\n\n",
        chunk("Hel"),
        chunk("lo"),
        chunk(" world\r\nwith crlf"),
        USAGE_CHUNK,
        b"data: [DONE]\n\n",
    ]
)


# The same stream with CRLF and with CR line ends (both legal SSE): the line-splitting path.
STREAMS = [STREAM, STREAM.replace(b"\n", b"\r\n"), STREAM.replace(b"\n", b"\r")]


def feed_all(parser: SseParser, parts: list[bytes]) -> list[SseEvent]:
    return [ev for p in parts for ev in parser.feed(p)]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize(
    ("raw", "datas"),
    [
        (b"data: a\n\n", [b"a"]),
        (b"data:a\n\n", [b"a"]),
        (b"data:  a\n\n", [b" a"]),
        (b"data: a\ndata: b\n\n", [b"a\nb"]),
        (b"data\n\n", [b""]),
        (b"data: a\r\n\r\n", [b"a"]),
        (b"data: a\r\rdata: b\r\r\n", [b"a", b"b"]),
        (b"data: a\r\rdata: b\r\r", [b"a"]),  # a final \r may be half of \r\n: wait
        (b"event: x\nid: 1\ndata: a\n\n", [b"a"]),
        (b": comment\n\n", [None]),
        (b"datum: a\n\n", [None]),
        (b"data: a\n", []),  # incomplete: no blank line yet
    ],
)
def test_parse_table(raw: bytes, datas: list[bytes | None]) -> None:
    events = SseParser().feed(raw)
    assert [e.data for e in events] == datas
    assert b"".join(e.raw for e in events) == raw[: sum(len(e.raw) for e in events)]


def test_trailing_cr_waits_for_possible_lf() -> None:
    p = SseParser()
    assert p.feed(b"data: a\r\n\r") == []
    [ev] = p.feed(b"\n")
    assert (ev.data, ev.raw) == (b"a", b"data: a\r\n\r\n")
    assert p.pending() == b""


@settings(max_examples=300)
@given(st.sampled_from(STREAMS), st.lists(st.integers(min_value=0, max_value=3000), max_size=40))
def test_any_split_gives_same_events(stream: bytes, cuts: list[int]) -> None:
    whole = SseParser().feed(stream + b"\n")  # a final \r waits for what follows
    parser = SseParser()
    assert feed_all(parser, [*split(stream, cuts), b"\n"]) == whole
    assert [e.data for e in whole if e.data is not None] == [
        e.data for e in SseParser().feed(STREAM) if e.data is not None
    ]


@settings(max_examples=500)
@given(
    st.sampled_from([0, 1, 2]),
    st.lists(st.integers(min_value=0, max_value=3000), max_size=40),
    st.booleans(),
)
def test_tap_any_split_same_bytes_and_usage(
    variant: int, cuts: list[int], client_wants_usage: bool
) -> None:
    eol = [b"\n", b"\r\n", b"\r"][variant]
    stream = STREAMS[variant]
    tap = StreamTap(drop_usage_chunk=not client_wants_usage)
    sent = b"".join(tap.feed(p) for p in split(stream, cuts)) + tap.finish()
    usage_event = USAGE_CHUNK.replace(b"\n", eol)
    expected = stream if client_wants_usage else stream.replace(usage_event, b"")
    assert sent == expected
    assert tap.usage == Usage(5, 3, 8, cached_tokens=2)
    assert tap.error_type is None
    if variant == 0:
        assert tap.done


@given(st.binary(max_size=200), st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_tap_never_loses_or_invents_bytes(noise: bytes, cuts: list[int]) -> None:
    """Whatever upstream sends, the client gets exactly it (minus only usage-only events)."""
    tap = StreamTap(drop_usage_chunk=True)
    sent = b"".join(tap.feed(p) for p in split(noise, cuts)) + tap.finish()
    assert sent == noise


def test_passthrough_returns_the_same_object() -> None:
    tap = StreamTap(drop_usage_chunk=False)
    part = chunk("x")
    assert tap.feed(part) is part


def test_in_stream_error_is_recorded() -> None:
    tap = StreamTap(drop_usage_chunk=True)
    err = b'data: {"error": {"message": "m", "type": "server_error", "code": "overloaded"}}\n\n'
    assert tap.feed(err) == err
    assert tap.error_type == "overloaded"


def test_usage_on_a_content_chunk_is_kept() -> None:
    # Some servers put usage on the last content chunk: the content must still arrive.
    tap = StreamTap(drop_usage_chunk=True)
    last = chunk("bye", USAGE)
    assert tap.feed(last) == last
    assert tap.usage is not None and tap.usage.total_tokens == 8


def test_partial_sent_tracks_unterminated_event() -> None:
    tap = StreamTap(drop_usage_chunk=False)
    tap.feed(b'data: {"id')
    assert tap.partial_sent()
    held = StreamTap(drop_usage_chunk=True)
    assert held.feed(b'data: {"id') == b""
    assert not held.partial_sent()


def test_runaway_event_is_not_held(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataplane.core.stream_tap as tap_module

    monkeypatch.setattr(tap_module, "MAX_EVENT_BYTES", 100)
    tap = StreamTap(drop_usage_chunk=True)
    blob = b"data: " + b"x" * 150
    assert tap.feed(blob) == blob
    assert tap.feed(b"\n\n" + chunk("ok")) == b"\n\n" + chunk("ok")
