"""Cheap facts about a prompt and its answer, recorded on every usage event. Pure.

Request side: read from the JSON body the pipeline already parsed (never
re-parsed here) with a handful of dict lookups — message count, requested
max tokens, tool count, body size. Response side: the body size and the
finish reason; for a stream, `ResponseMeter.feed` takes each upstream chunk
and finds the finish reason with `bytes.rfind`, no JSON decoding.

Endpoints and where the facts are:
- chat completions, Anthropic messages: `messages`; `max_completion_tokens`,
  `max_tokens`; `tools` (+ legacy `functions`); finish `choices[0].finish_reason`
  or Anthropic `stop_reason`;
- responses: `input` (a string counts as one message); `max_output_tokens`;
  finish = the response `status` (`completed`, `incomplete`, `failed`);
- completions: `prompt`; embeddings: `input` (one "message" per input).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Where requested output tokens may be, in order of preference.
_MAX_TOKENS_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
# Longest finish reason kept; a longer value is a broken upstream, not a reason.
MAX_FINISH_REASON_LEN = 64
_REASON_CHARS = re.compile(rb"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True, slots=True)
class RequestMetadata:
    message_count: int = 0
    requested_max_tokens: int = 0  # 0 = not given
    tool_count: int = 0
    request_bytes: int = 0
    # The prompt-bearing value (messages / input / prompt), kept by reference
    # for a token estimate when the provider reports no usage.
    source: Any = field(default=None, repr=False, compare=False)


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    if isinstance(value, str):
        return 1
    return 0


def metadata_from_request(parsed: Any, raw_len: int, endpoint: str = "") -> RequestMetadata:
    """Facts from an already-parsed request body (anything: bad bodies give zeros)."""
    if not isinstance(parsed, dict):
        return RequestMetadata(request_bytes=raw_len)
    get = parsed.get
    # Chat and Anthropic say `messages`; Responses and embeddings `input`;
    # legacy completions `prompt`.
    source = get("messages")
    if source is None:
        source = get("input")
        if source is None:
            source = get("prompt")
    extra = 0
    if endpoint.endswith("/messages") and get("system"):
        extra = 1  # Anthropic's system prompt is a message in OpenAI's shape
    elif endpoint.endswith("/responses") and get("instructions"):
        extra = 1
    max_tokens = 0
    for name in _MAX_TOKENS_FIELDS:
        v = get(name)
        if type(v) is int and v >= 0:  # bool is not a token count
            max_tokens = v
            break
    tools = get("tools")
    functions = get("functions")
    return RequestMetadata(
        message_count=_count(source) + extra,
        requested_max_tokens=max_tokens,
        tool_count=(len(tools) if isinstance(tools, list) else 0)
        + (len(functions) if isinstance(functions, list) else 0),
        request_bytes=raw_len,
        source=source,
    )


def _reason(v: Any) -> str:
    if isinstance(v, str) and 0 < len(v) <= MAX_FINISH_REASON_LEN:
        return v
    return ""


def finish_reason_of(parsed: Any) -> str:
    """Finish reason of a whole (non-stream) response; "" when it has none."""
    if not isinstance(parsed, dict):
        return ""
    choices = parsed.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return _reason(choices[0].get("finish_reason"))
    if "stop_reason" in parsed:  # Anthropic messages
        return _reason(parsed.get("stop_reason"))
    if parsed.get("object") == "response":  # OpenAI Responses
        return _reason(parsed.get("status"))
    return ""


# Stream markers: a key ending in `_reason` followed by a string value, in
# compact JSON (`"finish_reason":"stop"`) or with one space after the colon
# (Python's json.dumps). A null value (every chunk but the last) does not
# match, so the common chunk costs two failed `rfind`s. Escaped quotes inside
# a content string (`\"finish_reason\":\"x\"`) do not match either, so text
# a model writes cannot fake a reason.
_VALUE_NEEDLES = (b'_reason":"', b'_reason": "')
_KEYS = (b'"finish', b'"stop')
# Responses streams end with one of these event types.
_RESPONSE_END = (
    (b'"response.completed"', "completed"),
    (b'"response.incomplete"', "incomplete"),
    (b'"response.failed"', "failed"),
)
# Bytes of a chunk's end kept to find a marker split across two chunks.
_CARRY = 96


def _last_reason(buf: bytes, responses: bool) -> str | None:
    best_at = -1
    best: str | None = None
    n = len(buf)
    for needle in _VALUE_NEEDLES:
        end = n
        # Only a marker after the best one so far matters: search just that far.
        while (i := buf.rfind(needle, best_at + 1, end)) > best_at:
            end = i
            if not (buf.endswith(_KEYS[0], 0, i) or buf.endswith(_KEYS[1], 0, i)):
                continue
            m = _REASON_CHARS.match(buf, i + len(needle))
            if m is not None and m.end() < n and buf[m.end()] == 34:  # closing '"'
                best_at, best = i, m.group(0).decode("ascii")
                break
    if responses:
        for marker, status in _RESPONSE_END:
            i = buf.rfind(marker, best_at + 1)
            if i > best_at:
                best_at, best = i, status
    return best


class FinishReasonTracker:
    """The last non-null finish reason seen in a stream, fed raw chunks in any split."""

    __slots__ = ("_responses", "_tail", "reason")

    def __init__(self, *, responses: bool = False) -> None:
        self._responses = responses
        self._tail = b""
        self.reason = ""

    def feed(self, chunk: bytes) -> None:
        if self._tail:
            # A marker cut by the chunk boundary is whole in tail + head.
            found = _last_reason(self._tail + chunk[:_CARRY], self._responses)
            if found is not None:
                self.reason = found
        found = _last_reason(chunk, self._responses)
        if found is not None:
            self.reason = found
        # The last _CARRY bytes of the stream (tiny chunks accumulate).
        self._tail = chunk[-_CARRY:] if len(chunk) >= _CARRY else (self._tail + chunk)[-_CARRY:]


class ResponseMeter:
    """Response size and finish reason, for a whole body or a stream's chunks."""

    __slots__ = ("_responses", "_tracker", "finish_reason_value", "response_bytes")

    def __init__(self, endpoint: str = "") -> None:
        self.response_bytes = 0
        self.finish_reason_value = ""
        self._tracker: FinishReasonTracker | None = None
        self._responses = endpoint.endswith("/responses")

    def feed(self, chunk: bytes) -> None:
        """One upstream stream chunk (raw bytes, any split)."""
        self.response_bytes += len(chunk)
        tracker = self._tracker
        if tracker is None:
            tracker = self._tracker = FinishReasonTracker(responses=self._responses)
        tracker.feed(chunk)

    def body(self, raw_len: int, parsed: Any) -> None:
        """A whole response body (already parsed by the pipeline)."""
        self.response_bytes = raw_len
        self.finish_reason_value = finish_reason_of(parsed)

    @property
    def finish_reason(self) -> str:
        if self._tracker is not None:
            return self._tracker.reason
        return self.finish_reason_value


def _text_len(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        total = 0
        for part in content:
            if isinstance(part, str):
                total += len(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    total += len(text)
        return total
    return 0


def estimate_context_tokens(meta: RequestMetadata) -> int:
    """Prompt tokens without a tokenizer: ~4 characters a token, + 4 per message + 3.

    Used only when the provider reported no usage (a blocked or failed request).
    """
    source = meta.source
    if source is None:
        return 0
    if isinstance(source, str):
        return (len(source) + 3) // 4 + 3
    if not isinstance(source, list):
        return 0
    chars = 0
    for item in source:
        if isinstance(item, dict):
            chars += _text_len(item.get("content"))
        else:
            chars += _text_len(item if isinstance(item, str) else None)
    return (chars + 3) // 4 + 4 * len(source) + 3
