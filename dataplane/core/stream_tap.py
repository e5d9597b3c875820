"""Watch an SSE stream (chat, completions, responses, Anthropic messages) on its way out.

What carries usage depends on the wire format, so the tap takes an `observe`
function (dataplane/providers/: chat's usage chunk, Responses'
`response.completed`, Anthropic's `message_start`/`message_delta`); the
default reads chat completions. For chat the gateway always asks upstream for
`stream_options.include_usage`, so the last chunk before `[DONE]` carries
`usage` with empty `choices`. The tap finds it (and any in-stream error event)
without re-serialising anything:
- if the client asked for usage itself, every chunk is passed through as is;
- otherwise the usage-only event is cut out, which means holding back the
  bytes of an incomplete event until its end arrives — never more.
Only events whose data can hold token counts are JSON-decoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from dataplane.core.sse import SseParser
from dataplane.core.usage_extract import Usage, error_code, extract_usage

# (event object, usage so far) → (usage now, whether the event is usage-only and hideable).
Observe = Callable[[dict[str, Any], Usage | None], tuple[Usage | None, bool]]


def observe_chat(obj: dict[str, Any], current: Usage | None) -> tuple[Usage | None, bool]:
    usage = extract_usage(obj.get("usage"))
    if usage is None:
        return current, False
    return usage, not obj.get("choices")


_DONE = b"[DONE]"
# Longest incomplete event held back; real chat chunks are well under 64 KiB.
MAX_EVENT_BYTES = 1024 * 1024
# Bytes of each stream kept for estimating tokens; the estimate scales past it.
KEEP_BYTES = 64 * 1024
# An event holding one of these needs a look: token counts, an error, the end marker.
_INTERESTING = (b'_tokens"', b'"error"', _DONE)


class StreamTap:
    __slots__ = (
        "_drop_usage_chunk",
        "_kept",
        "_kept_len",
        "_observe",
        "_parser",
        "done",
        "error_type",
        "events",
        "total_bytes",
        "usage",
    )

    def __init__(self, *, drop_usage_chunk: bool, observe: Observe = observe_chat) -> None:
        self._drop_usage_chunk = drop_usage_chunk
        self._observe = observe
        self._parser = SseParser()
        self.usage: Usage | None = None
        self.error_type: str | None = None  # from a `data: {"error": ...}` event
        self.done = False  # saw `data: [DONE]`
        # The stream's first KEEP_BYTES, kept for a token estimate should usage never come.
        self._kept: list[bytes] = []
        self._kept_len = 0
        self.total_bytes = 0
        # Event ends (blank lines) seen: a stream's progress at the cost of one C-level
        # count per chunk. With `\r\n` line ends this reads 0 (no estimate from it).
        self.events = 0

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to send to the client for this upstream chunk (maybe b"")."""
        self.total_bytes += len(chunk)
        self.events += chunk.count(b"\n\n")
        if self._kept_len < KEEP_BYTES:
            self._kept.append(chunk)  # a reference, not a copy
            self._kept_len += len(chunk)
        if self._parser.pending() or b"\r" in chunk:
            return self._feed_events(chunk)
        # At an event boundary with `\n` line ends, every `\n\n` ends an event: the
        # complete events before the first one that could matter pass untouched,
        # with no per-event work (the common case: whole content chunks).
        first = len(chunk)
        for needle in _INTERESTING:
            first = _first(chunk, needle, first)
        end = chunk.rfind(b"\n\n", 0, first)
        cut = end + 2 if end >= 0 else 0
        if cut == len(chunk):
            if chunk.endswith(b"[DONE]\n\n"):
                self.done = True
            return chunk
        rest = self._feed_events(chunk[cut:] if cut else chunk)
        if not self._drop_usage_chunk:
            return chunk
        return chunk[:cut] + rest if cut else rest

    def _feed_events(self, chunk: bytes) -> bytes:
        parser = self._parser
        events = parser.feed(chunk)
        # Never hold a runaway "event" (a broken upstream): let it through uninspected.
        overflow = parser.close() if len(parser.pending()) > MAX_EVENT_BYTES else b""
        if not self._drop_usage_chunk:
            for ev in events:
                if ev.data is not None:
                    self._inspect(ev.data)
            return chunk
        out = []
        for ev in events:
            if ev.data is None or not self._inspect(ev.data):
                out.append(ev.raw)
        if overflow:
            out.append(overflow)
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    def finish(self) -> bytes:
        """End of the upstream body: the bytes still held back (an unterminated event)."""
        tail = self._parser.close()
        return tail if self._drop_usage_chunk else b""

    def kept(self) -> bytes:
        """The first bytes of the stream (at least KEEP_BYTES, or all of a short one)."""
        return b"".join(self._kept)

    def partial_sent(self) -> bool:
        """Whether the client already got the start of an event that never finished."""
        return not self._drop_usage_chunk and bool(self._parser.pending())

    def _inspect(self, data: bytes) -> bool:
        """Record what `data` tells; True when it is a usage-only chunk."""
        if data == _DONE:
            self.done = True
            return False
        if data[:1] == b"{" and b'"error"' in data[:16]:
            self.error_type = error_code(_loads(data)) or "upstream_error"
            return False
        # Cheap pre-filter: only a usage object has keys ending in `_tokens"`.
        if b'_tokens"' not in data:
            return False
        obj = _loads(data)
        if not isinstance(obj, dict):
            return False
        self.usage, usage_only = self._observe(obj, self.usage)
        return usage_only


def _first(chunk: bytes, needle: bytes, end: int) -> int:
    """A point at or before the start of the first event (before `end`) holding `needle`
    wholly before `end`; `end` if no event does. (`feed` cuts at the `\\n\\n` before it.)

    Searched backwards, jumping to the start of each event found (a usage object
    holds many `_tokens"`): CPython's reverse search is about twice as fast as the
    forward one on JSON text, and what a tap looks for sits near a stream's end.
    """
    i = chunk.rfind(needle, 0, end)
    while i >= 0:
        end = chunk.rfind(b"\n\n", 0, i) + 2  # this event's start (1: the chunk's)
        if end < 2:
            return 0
        i = chunk.rfind(needle, 0, end)
    return end


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
