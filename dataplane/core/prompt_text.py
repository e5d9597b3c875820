"""Prompt and response text for FULL prompt logging: extracted, bounded, redacted. Pure.

`request_text(parsed, endpoint)` flattens a request body already parsed by the
pipeline into `role: content` lines (chat / Anthropic `messages`, Responses
`input` and `instructions`, completions `prompt`, embeddings `input`).
`ResponseTextCollector` gathers the assistant's text from a whole JSON
response or, fed the raw stream, from its deltas. Each side keeps at most
MAX_TEXT_BYTES + GUARD_CHARS characters while collecting.

`build_prompt_text` is the only way text leaves: it runs both sides through
the Redactor and only then bounds them to MAX_TEXT_BYTES UTF-8 bytes with a
TRUNCATED_MARKER. When the raw text was cut while collecting, the redacted
text's last GUARD_CHARS after its last placeholder are dropped too: a secret
split by the cut (no longer recognisable) is never kept. An unterminated
private key block is redacted to the end by the detector itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from dataplane.core.sse import SseParser
from oggy.contract.redaction import Redactor
from oggy.v1 import usage_pb2

# Each side's text is at most this many UTF-8 bytes, marker included.
MAX_TEXT_BYTES = 256 * 1024
TRUNCATED_MARKER = "\n[TRUNCATED]"
# Raw characters past MAX_TEXT_BYTES collected so a secret at the cut is seen
# whole, and dropped from the redacted text when the raw text was cut.
GUARD_CHARS = 512
# Longest incomplete SSE event held while collecting stream text.
_MAX_EVENT_BYTES = 1024 * 1024


class BoundedText:
    """A text accumulator that keeps the first `limit` characters and counts the rest."""

    __slots__ = ("_limit", "_parts", "cut", "size")

    def __init__(self, limit: int = MAX_TEXT_BYTES + GUARD_CHARS) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self.size = 0
        self.cut = False

    @property
    def full(self) -> bool:
        return self.size >= self._limit

    def add(self, text: str) -> None:
        if not text:
            return
        room = self._limit - self.size
        if room <= 0:
            self.cut = True
            return
        if len(text) > room:
            text = text[:room]
            self.cut = True
        self._parts.append(text)
        self.size += len(text)

    def line(self, role: str, text: str) -> None:
        if text:
            self.add(f"{role}: {text}\n" if role else f"{text}\n")

    def text(self) -> str:
        return "".join(self._parts)


def _content_text(content: Any) -> str:
    """The text of a message content: a string, or text parts (OpenAI, Anthropic, Responses)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
            elif "content" in part:  # Anthropic tool_result blocks nest content
                parts.append(_content_text(part.get("content")))
            elif isinstance(part.get("input"), dict):  # Anthropic tool_use
                parts.append(orjson.dumps(part["input"]).decode())
    return "\n".join(p for p in parts if p)


def _tool_calls_text(calls: Any) -> str:
    if not isinstance(calls, list):
        return ""
    out = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict):
            name = fn.get("name") if isinstance(fn.get("name"), str) else ""
            args = fn.get("arguments") if isinstance(fn.get("arguments"), str) else ""
            out.append(f"{name}({args})")
    return " ".join(out)


def _items(buf: BoundedText, items: Any, default_role: str) -> None:
    if isinstance(items, str):
        buf.line(default_role, items)
        return
    if not isinstance(items, list):
        return
    for item in items:
        if buf.full:
            buf.cut = True
            return
        if isinstance(item, str):
            buf.line(default_role, item)
        elif isinstance(item, dict):
            role = item.get("role")
            if not isinstance(role, str):
                role = item.get("type") if isinstance(item.get("type"), str) else default_role
            text = _content_text(item.get("content"))
            if isinstance(item.get("output"), str):  # Responses function_call_output
                text = item["output"]
            elif isinstance(item.get("arguments"), str):  # Responses function_call
                text = f"{item.get('name', '')}({item['arguments']})"
            calls = _tool_calls_text(item.get("tool_calls"))
            buf.line(role, f"{text} {calls}".strip() if calls else text)


def request_text(parsed: Any, endpoint: str = "") -> BoundedText:
    """The prompt's text as `role: content` lines (bounded; not yet redacted)."""
    buf = BoundedText()
    if not isinstance(parsed, dict):
        return buf
    system = parsed.get("system")  # Anthropic
    if system is not None:
        buf.line("system", _content_text(system))
    instructions = parsed.get("instructions")  # Responses
    if isinstance(instructions, str):
        buf.line("system", instructions)
    if "messages" in parsed:
        _items(buf, parsed.get("messages"), "user")
    elif "input" in parsed:  # Responses, embeddings
        _items(buf, parsed.get("input"), "user" if endpoint.endswith("/responses") else "")
    elif "prompt" in parsed:  # legacy completions
        _items(buf, parsed.get("prompt"), "")
    return buf


class ResponseTextCollector:
    """The assistant's text: from the final JSON, or accumulated from a stream's deltas.

    FULL logging only (it decodes every stream event). Feed it raw upstream
    chunks (`feed_chunk`, any split), or SSE event data the pipeline already
    split (`feed_event`), or a whole parsed body (`feed_json`).
    """

    __slots__ = ("_buf", "_parser")

    def __init__(self) -> None:
        self._buf = BoundedText()
        self._parser: SseParser | None = None

    @property
    def full(self) -> bool:
        return self._buf.full

    def feed_chunk(self, chunk: bytes) -> None:
        if self._buf.full:
            self._buf.cut = True
            return
        parser = self._parser
        if parser is None:
            parser = self._parser = SseParser()
        for ev in parser.feed(chunk):
            if ev.data is not None:
                self.feed_event(ev.data)
        if len(parser.pending()) > _MAX_EVENT_BYTES:
            parser.close()  # a runaway event from a broken upstream: skip it

    def feed_event(self, data: bytes) -> None:
        if self._buf.full or not data or data[:1] != b"{":
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(obj, dict):
            self._buf.add(_delta_text(obj))

    def feed_json(self, parsed: Any) -> None:
        if isinstance(parsed, dict):
            self._buf.add(_message_text(parsed))

    def bounded(self) -> BoundedText:
        return self._buf

    def text(self) -> str:
        return self._buf.text()


def _delta_text(obj: dict[str, Any]) -> str:
    """Text of one stream event: chat/completions deltas, Anthropic and Responses deltas."""
    parts = _choice_texts(obj, "delta", _delta_message_text)
    if parts is not None:
        return "".join(parts)
    kind = obj.get("type")
    if kind == "content_block_delta":  # Anthropic
        delta = obj.get("delta")
        if isinstance(delta, dict):
            for name in ("text", "partial_json"):
                if isinstance(delta.get(name), str):
                    return delta[name]
        return ""
    if isinstance(kind, str) and kind.startswith("response.") and kind.endswith(".delta"):
        delta = obj.get("delta")  # response.output_text.delta, function_call_arguments.delta
        return delta if isinstance(delta, str) else ""
    return ""


def _message_text(obj: dict[str, Any]) -> str:
    """Assistant text of a whole response: chat, completions, Anthropic, Responses."""
    choice_parts = _choice_texts(obj, "message", _whole_message_text)
    if choice_parts is not None:
        return "\n".join(p for p in choice_parts if p)
    if obj.get("type") == "message":  # Anthropic
        return _content_text(obj.get("content"))
    if obj.get("object") == "response":
        output = obj.get("output")
        parts = []
        for item in output if isinstance(output, list) else ():
            if not isinstance(item, dict):
                continue
            if isinstance(item.get("arguments"), str):
                parts.append(f"{item.get('name', '')}({item['arguments']})")
            else:
                parts.append(_content_text(item.get("content")))
        return "\n".join(p for p in parts if p)
    return ""


def _choice_texts(
    obj: dict[str, Any], message_key: str, message_text: Callable[[dict[str, Any]], str]
) -> list[str] | None:
    """Per choice, the text of its `message_key` message, else its legacy completions
    `text`; None when `obj` has no `choices` list (another wire format)."""
    choices = obj.get("choices")
    if not isinstance(choices, list):
        return None
    parts = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        message = choice.get(message_key)
        if isinstance(message, dict):
            parts.append(message_text(message))
        elif isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return parts


def _delta_message_text(delta: dict[str, Any]) -> str:
    parts = []
    if isinstance(delta.get("content"), str):
        parts.append(delta["content"])
    calls = delta.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                parts.append(fn["arguments"])
    return "".join(parts)


def _whole_message_text(message: dict[str, Any]) -> str:
    text = _content_text(message.get("content"))
    calls = _tool_calls_text(message.get("tool_calls"))
    return f"{text} {calls}".strip() if calls else text


def _finish(redactor: Redactor, buf: BoundedText, counts: dict[str, int]) -> str:
    """Redact the collected text, then bound it; see the module doc for the guard."""
    raw = buf.text()
    if not raw:
        return ""
    result = redactor.redact(raw)
    for kind, n in result.counts.items():
        counts[kind] = counts.get(kind, 0) + n
    text = result.text
    cut = buf.cut
    if cut:
        # Past the last placeholder the redacted text is the raw text verbatim;
        # a secret cut in half by the bound is there, in the last GUARD_CHARS.
        last = 0
        for kind in result.counts:
            i = text.rfind(f"[{kind}]")
            if i >= 0:
                last = max(last, i + len(kind) + 2)
        text = text[: len(text) - min(GUARD_CHARS, len(text) - last)]
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_TEXT_BYTES - len(TRUNCATED_MARKER):
        keep = MAX_TEXT_BYTES - len(TRUNCATED_MARKER)
        text = encoded[:keep].decode("utf-8", "ignore")
        cut = True
    return text + TRUNCATED_MARKER if cut else text


def build_prompt_text(
    redactor: Redactor,
    request: BoundedText,
    response: BoundedText | None,
    expire_s: float,
) -> usage_pb2.PromptText:
    counts: dict[str, int] = {}
    pt = usage_pb2.PromptText(
        request_text=_finish(redactor, request, counts),
        response_text=_finish(redactor, response, counts) if response is not None else "",
    )
    pt.expire_time.FromNanoseconds(int(expire_s * 1e9))
    for kind, n in counts.items():
        pt.redactions[kind] = n
    return pt
