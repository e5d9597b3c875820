"""Per request: what one request records about its prompt, as its compiled
prompt-logging policy (oggy.contract.prompt_logging) says."""

from __future__ import annotations

import copy
from typing import Any

from dataplane.core.event_values import put_int
from dataplane.core.prompt_metadata import (
    RequestMetadata,
    ResponseMeter,
    estimate_context_tokens,
    metadata_from_request,
)
from dataplane.core.prompt_text import ResponseTextCollector, build_prompt_text, request_text
from oggy.contract.prompt_logging import PromptLogging, PromptLoggingPolicy
from oggy.v1 import usage_pb2


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

    def without_text(self) -> PromptCapture:
        """The same metadata, never the text (sharing the request's and the response's
        meters): for a provisional event, which is cheap and holds no prompt text."""
        view = copy.copy(self)
        view._collector = None
        view._text = None
        return view

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

    def fill(
        self,
        ev: usage_pb2.UsageEvent,
        prompt_tokens: int | None,
        end_s: float,
        anomalies: set[str] | None = None,
    ) -> None:
        """Set `ev.prompt` (always) and `ev.prompt_text` (FULL only, redacted).

        Numbers come from the client's body: each is fitted to its field, and
        one that had to be changed is named in `anomalies`."""
        if anomalies is None:
            anomalies = set()
        pm = ev.prompt
        pm.SetInParent()  # present on every event of an authorised request, even all zeros
        meta = self.meta
        if meta is not None:
            put_int(pm, "message_count", meta.message_count, anomalies)
            put_int(pm, "requested_max_tokens", meta.requested_max_tokens, anomalies)
            put_int(pm, "tool_count", meta.tool_count, anomalies)
            put_int(pm, "request_bytes", meta.request_bytes, anomalies)
            context = prompt_tokens if prompt_tokens else estimate_context_tokens(meta)
            put_int(pm, "context_tokens", context, anomalies)
        else:
            put_int(pm, "request_bytes", self._request_bytes, anomalies)
            if prompt_tokens:
                put_int(pm, "context_tokens", prompt_tokens, anomalies)
        response = self.response
        put_int(pm, "response_bytes", response.response_bytes, anomalies)
        mode = self.policy.mode
        if mode is PromptLogging.OFF:
            return
        pm.finish_reason = response.finish_reason
        if self._collector is not None:
            self.seal(end_s)
            if self._text is not None:
                ev.prompt_text.CopyFrom(self._text)
