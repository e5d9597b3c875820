"""Prompt logging as a policy: what of a prompt is kept, redacted before it leaves the request.

Modes (Policy.prompt_logging), from most to least private:
- OFF: the event carries sizes and counts only (message_count, tool_count,
  requested_max_tokens, request/response bytes, context_tokens) — no
  finish_reason, since it describes the content (`content_filter`), no text;
- METADATA (the default, also for UNSPECIFIED): the whole PromptMetadata;
- FULL: PromptMetadata and a PromptText: the request's and the response's
  text, each bounded to MAX_TEXT_BYTES, run through the Redactor, with
  `expire_time` = end of request + retention and the redaction counts.

Merging the policies that apply to a key (enforced ones; shadow policies
only try out blocking rules, so their prompt settings are validated but not
applied): the most private mode wins (OFF < METADATA < FULL), the shortest
`prompt_retention` wins (unset = 30 days), and the redaction rules are the
union of every applying policy's rules. The Redactor is compiled here, at
config time, once per distinct rule set; a bad rule fails the compile
(ConfigError → NACK).

Nothing unredacted leaves this module: PromptText is only ever built from
`Redactor.redact` output. Text is cut *before* redaction (to bound the work)
with a guard: when the raw text was cut, the redacted text's last
GUARD_CHARS (after its last placeholder) are dropped too, so a secret split
by the cut (and so no longer recognisable) is never kept; an unterminated
private key block is redacted to the end by the detector itself.
"""

from __future__ import annotations

import enum
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from dataplane.core.prompt_metadata import (
    RequestMetadata,
    ResponseMeter,
    estimate_context_tokens,
    metadata_from_request,
)
from dataplane.core.redaction import RedactionRuleError, Redactor, compile_rule
from dataplane.core.sse import SseParser
from oggy.v1 import policy_pb2, usage_pb2

DEFAULT_RETENTION_S = 30 * 24 * 3600
# Each side's text is at most this many UTF-8 bytes, marker included.
MAX_TEXT_BYTES = 256 * 1024
TRUNCATED_MARKER = "\n[TRUNCATED]"
# Raw characters past MAX_TEXT_BYTES collected so a secret at the cut is seen
# whole, and dropped from the redacted text when the raw text was cut.
GUARD_CHARS = 512
# Longest incomplete SSE event held while collecting stream text.
_MAX_EVENT_BYTES = 1024 * 1024

_Policy = policy_pb2.Policy


class PromptLogging(enum.IntEnum):
    """Ordered from most to least private; values are the proto's."""

    OFF = _Policy.PROMPT_LOGGING_OFF
    METADATA = _Policy.PROMPT_LOGGING_METADATA
    FULL = _Policy.PROMPT_LOGGING_FULL


class PromptLoggingError(ValueError):
    """A policy's prompt settings cannot be used (bad retention, bad redaction rule)."""


@dataclass(frozen=True, slots=True)
class PromptLoggingPolicy:
    mode: PromptLogging = PromptLogging.METADATA
    retention_s: int = DEFAULT_RETENTION_S
    # Compiled once per config; set when mode is FULL.
    redactor: Redactor | None = None


DEFAULT_PROMPT_LOGGING = PromptLoggingPolicy()
RuleSet = tuple[tuple[str, str], ...]


def _mode(p: policy_pb2.Policy) -> PromptLogging | None:
    if p.prompt_logging == _Policy.PROMPT_LOGGING_UNSPECIFIED:
        return None
    try:
        return PromptLogging(p.prompt_logging)
    except ValueError:
        raise PromptLoggingError(
            f"policy {p.name}: unknown prompt_logging value {p.prompt_logging}"
        ) from None


def _retention_s(p: policy_pb2.Policy) -> int | None:
    if not p.HasField("prompt_retention"):
        return None
    d = p.prompt_retention
    if d.seconds < 0 or d.nanos < 0:
        raise PromptLoggingError(f"policy {p.name}: prompt_retention must not be negative")
    seconds = d.seconds + (1 if d.nanos else 0)  # round up: never purge early
    return seconds or None  # a zero duration reads as unset


def _rules(p: policy_pb2.Policy) -> RuleSet:
    return tuple((r.name, r.pattern) for r in p.redaction_rules)


def validate_policy(p: policy_pb2.Policy) -> None:
    """Check one policy's prompt settings on their own; raises PromptLoggingError."""
    _mode(p)
    _retention_s(p)
    for name, pattern in _rules(p):
        try:
            compile_rule(name, pattern)
        except RedactionRuleError as e:
            raise PromptLoggingError(f"policy {p.name}: {e}") from None


def compile_prompt_logging(
    policies: Sequence[policy_pb2.Policy],
    redactors: MutableMapping[RuleSet, Redactor] | None = None,
) -> PromptLoggingPolicy:
    """Merge the policies applying to one key; `redactors` caches per rule set.

    Rules are checked here only when they are compiled (FULL); check every
    policy with `validate_policy` too, so a bad rule is refused whatever the mode.
    """
    mode: PromptLogging | None = None
    retention: int | None = None
    rules: dict[tuple[str, str], None] = {}
    for p in policies:
        if p.shadow:
            validate_policy(p)
            continue
        m = _mode(p)
        if m is not None and (mode is None or m < mode):
            mode = m
        r = _retention_s(p)
        if r is not None and (retention is None or r < retention):
            retention = r
        rules.update(dict.fromkeys(_rules(p)))
    mode = PromptLogging.METADATA if mode is None else mode
    retention = DEFAULT_RETENTION_S if retention is None else retention
    if not rules and mode is PromptLogging.METADATA and retention == DEFAULT_RETENTION_S:
        return DEFAULT_PROMPT_LOGGING
    redactor = None
    if mode is PromptLogging.FULL:
        rule_set: RuleSet = tuple(sorted(rules))
        redactor = redactors.get(rule_set) if redactors is not None else None
        if redactor is None:
            try:
                redactor = Redactor(rule_set)
            except RedactionRuleError as e:
                raise PromptLoggingError(str(e)) from None
            if redactors is not None:
                redactors[rule_set] = redactor
    return PromptLoggingPolicy(mode=mode, retention_s=retention, redactor=redactor)


# -- text ------------------------------------------------------------------------


class _Bounded:
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


def _items(buf: _Bounded, items: Any, default_role: str) -> None:
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


def request_text(parsed: Any, endpoint: str = "") -> _Bounded:
    """The prompt's text as `role: content` lines (bounded; not yet redacted)."""
    buf = _Bounded()
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
        self._buf = _Bounded()
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

    def bounded(self) -> _Bounded:
        return self._buf

    def text(self) -> str:
        return self._buf.text()


def _delta_text(obj: dict[str, Any]) -> str:
    """Text of one stream event: chat/completions deltas, Anthropic and Responses deltas."""
    choices = obj.get("choices")
    if isinstance(choices, list):
        parts = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                calls = delta.get("tool_calls")
                if isinstance(calls, list):
                    for call in calls:
                        fn = call.get("function") if isinstance(call, dict) else None
                        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                            parts.append(fn["arguments"])
            elif isinstance(choice.get("text"), str):  # legacy completions
                parts.append(choice["text"])
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
    choices = obj.get("choices")
    if isinstance(choices, list):
        parts = []
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            msg = choice.get("message")
            if isinstance(msg, dict):
                text = _content_text(msg.get("content"))
                calls = _tool_calls_text(msg.get("tool_calls"))
                parts.append(f"{text} {calls}".strip() if calls else text)
            elif isinstance(choice.get("text"), str):
                parts.append(choice["text"])
        return "\n".join(p for p in parts if p)
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


def _finish(redactor: Redactor, buf: _Bounded, counts: dict[str, int]) -> str:
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
    request: _Bounded,
    response: _Bounded | None,
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


# -- per request -------------------------------------------------------------------


class PromptCapture:
    """What one request records about its prompt; one per request, created after auth.

    Pipeline hooks, one call each:
    - `PromptCapture(key.prompt_logging, endpoint, len(raw_body))` once authorised;
    - `request(parsed)` once the body is parsed (not called for a refused body:
      the event then still has `request_bytes`);
    - `stream_chunk(chunk)` for each raw upstream SSE chunk, or
      `response_body(raw_len, parsed)` for a whole response;
    - `fill(event, prompt_tokens, end_s)` when the usage event is built.
    """

    __slots__ = (
        "_body",
        "_collector",
        "_request_bytes",
        "_text",
        "endpoint",
        "meta",
        "policy",
        "response",
    )

    def __init__(self, policy: PromptLoggingPolicy, endpoint: str, request_bytes: int = 0) -> None:
        self.policy = policy
        self.endpoint = endpoint
        self._request_bytes = request_bytes
        self.meta: RequestMetadata | None = None
        self.response = ResponseMeter(endpoint)
        self._body: Any = None
        full = policy.mode is PromptLogging.FULL and policy.redactor is not None
        self._collector = ResponseTextCollector() if full else None
        self._text: usage_pb2.PromptText | None = None

    def request(self, parsed: Any, raw_len: int | None = None) -> RequestMetadata:
        if raw_len is None:
            raw_len = self._request_bytes
        self.meta = metadata_from_request(parsed, raw_len, self.endpoint)
        if self._collector is not None:
            self._body = parsed  # a reference; flattened (and redacted) only at `fill`
        return self.meta

    def stream_chunk(self, chunk: bytes) -> None:
        self.response.feed(chunk)
        if self._collector is not None:
            self._collector.feed_chunk(chunk)

    def response_body(self, raw_len: int, parsed: Any) -> None:
        self.response.body(raw_len, parsed)
        if self._collector is not None:
            self._collector.feed_json(parsed)

    @property
    def logs_text(self) -> bool:
        return self._collector is not None

    def seal(self, end_s: float) -> None:
        """Build the redacted PromptText now (FULL only; idempotent).

        Redacting a big prompt is CPU work (~20 ms per 100 KiB): a pipeline
        should run this in a worker thread once the response is done, and
        `fill` uses the result; otherwise `fill` redacts inline.
        """
        collector = self._collector
        if collector is None or self._text is not None or self.policy.redactor is None:
            return
        self._text = build_prompt_text(
            self.policy.redactor,
            request_text(self._body, self.endpoint),
            collector.bounded(),
            end_s + self.policy.retention_s,
        )

    def fill(self, ev: usage_pb2.UsageEvent, prompt_tokens: int | None, end_s: float) -> None:
        """Set `ev.prompt` (always) and `ev.prompt_text` (FULL only, redacted)."""
        pm = ev.prompt
        meta = self.meta
        if meta is not None:
            pm.message_count = meta.message_count
            pm.requested_max_tokens = meta.requested_max_tokens
            pm.tool_count = meta.tool_count
            pm.request_bytes = meta.request_bytes
            pm.context_tokens = prompt_tokens if prompt_tokens else estimate_context_tokens(meta)
        else:
            pm.request_bytes = self._request_bytes
            if prompt_tokens:
                pm.context_tokens = prompt_tokens
        response = self.response
        pm.response_bytes = response.response_bytes
        mode = self.policy.mode
        if mode is PromptLogging.OFF:
            pm.SetInParent()
            return
        pm.finish_reason = response.finish_reason
        if self._collector is not None:
            self.seal(end_s)
            if self._text is not None:
                ev.prompt_text.CopyFrom(self._text)
