"""Incremental Server-Sent Events parsing, robust to any chunk split.

`SseParser.feed(bytes)` returns the events completed by that chunk, each with
its exact raw bytes (so a filter can pass events through byte for byte without
re-serialising) and its joined `data` field. Only the incomplete tail is kept.

Two paths, same results: streams with `\\n` line ends (OpenAI and nearly every
server) are cut at `\\n\\n` with `bytes.find`, one step per event; when a `\\r`
is around, lines are split per the SSE spec (`\\r\\n`, `\\r` or `\\n`), and a
`\\r` at the end of a chunk waits to learn whether a `\\n` follows.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_EOL = re.compile(rb"\r\n|\r|\n")


class SseEvent(NamedTuple):  # a tuple: cheaper to build than a frozen dataclass
    raw: bytes  # the event's bytes including the blank line that ends it
    data: bytes | None  # `data` lines joined by b"\n"; None when the event had none


def _data_field(line: bytes) -> bytes | None:
    """The value of a `data` field line (one leading space dropped); None for other lines."""
    if not line.startswith(b"data"):
        return None
    if line == b"data":
        return b""
    if line[4:5] != b":":
        return None  # a field merely starting with "data", e.g. `dataset:`
    value = line[5:]
    return value[1:] if value[:1] == b" " else value


def _joined(data: list[bytes]) -> bytes | None:
    """An event's data lines as its data; None when it had none."""
    if not data:
        return None
    return data[0] if len(data) == 1 else b"\n".join(data)


def _data_of(lines: list[bytes]) -> bytes | None:
    return _joined([v for v in map(_data_field, lines) if v is not None])


class SseParser:
    __slots__ = ("_buf", "_data", "_pos")

    def __init__(self) -> None:
        self._buf = b""  # the incomplete event, from its first byte
        self._pos = 0  # line-path state: start of the next unparsed line in _buf
        self._data: list[bytes] = []  # line-path state: data lines seen so far

    def feed(self, chunk: bytes) -> list[SseEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            return self._feed_lines(buf)
        events: list[SseEvent] = []
        find = buf.find
        start = 0
        n = len(buf)
        while start < n:
            if buf[start] == 10:  # a blank line right at an event boundary
                events.append(SseEvent(b"\n", None))
                start += 1
                continue
            end = find(b"\n\n", start)
            if end < 0:
                break
            raw = buf[start : end + 2]
            if raw.startswith(b"data: ") and raw.count(b"\n") == 2:
                data: bytes | None = raw[6:-2]  # the usual one-line event
            else:
                data = _data_of(raw[:-2].split(b"\n"))
            events.append(SseEvent(raw, data))
            start = end + 2
        self._buf = buf[start:] if start else buf
        # This path re-reads the incomplete event from its start next time.
        self._pos = 0
        self._data = []
        return events

    def _feed_lines(self, buf: bytes) -> list[SseEvent]:
        events: list[SseEvent] = []
        pos = self._pos
        start = 0
        data = self._data
        n = len(buf)
        while pos < n:
            m = _EOL.search(buf, pos)
            if m is None:
                break
            line_end, pos_next = m.span()
            if pos_next == n and pos_next - line_end == 1 and buf[line_end] == 13:
                break  # a final \r may be the first half of a \r\n split across chunks
            line = buf[pos:line_end]
            pos = pos_next
            if not line:
                events.append(SseEvent(buf[start:pos], _joined(data)))
                data = []
                start = pos
            elif (value := _data_field(line)) is not None:
                data.append(value)
        self._buf = buf[start:]
        self._pos = pos - start
        self._data = data
        return events

    def pending(self) -> bytes:
        """Bytes of the incomplete event not yet returned (e.g. at end of stream)."""
        return self._buf

    def close(self) -> bytes:
        """End of stream: return and forget the incomplete tail."""
        tail, self._buf = self._buf, b""
        self._pos = 0
        self._data = []
        return tail
