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

Nothing unredacted leaves the data plane: PromptText is only ever built by
`prompt_text.build_prompt_text`, from `Redactor.redact` output, before the
event reaches the usage sink (and so the spool).
"""

from __future__ import annotations

import enum
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from dataplane.core.prompt_metadata import (
    RequestMetadata,
    ResponseMeter,
    estimate_context_tokens,
    metadata_from_request,
)
from dataplane.core.prompt_text import ResponseTextCollector, build_prompt_text, request_text
from dataplane.core.redaction import RedactionRuleError, Redactor, compile_rule
from oggy.v1 import policy_pb2, usage_pb2

DEFAULT_RETENTION_S = 30 * 24 * 3600

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
        pm.SetInParent()  # present on every event of an authorised request, even all zeros
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
            return
        pm.finish_reason = response.finish_reason
        if self._collector is not None:
            self.seal(end_s)
            if self._text is not None:
                ev.prompt_text.CopyFrom(self._text)
