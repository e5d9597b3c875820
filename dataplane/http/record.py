"""What one request did, collected along its way and emitted as one UsageEvent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.usage_extract import Usage
from oggy.contract.identity import Attribution
from oggy.contract.policy import POLICY_REASONS
from oggy.v1 import usage_pb2


class RequestRecord:
    __slots__ = (
        "actor",
        "app",
        "attempts",
        "client_ip",
        "cost_micro_usd",
        "deferred_settle",
        "endpoint",
        "environment",
        "error_type",
        "first_byte",
        "http_status",
        "key",
        "labels",
        "model",
        "policy_reason",
        "price_catalog_version",
        "prompt",
        "provider",
        "request_id",
        "requested_model",
        "shadow_reason",
        "start_mono",
        "start_ns",
        "stream",
        "team",
        "token_source",
        "upstream_request_id",
        "usage",
        "workflow",
        "workspace",
    )

    def __init__(
        self, request_id: str, endpoint: str, start_ns: int, start_mono: float, client_ip: str
    ) -> None:
        self.request_id = request_id
        self.endpoint = endpoint
        self.start_ns = start_ns
        self.start_mono = start_mono
        self.client_ip = client_ip
        self.workspace = ""
        self.key = ""
        self.actor = ""
        self.provider = ""
        self.model = ""
        self.stream = False
        self.http_status = 0
        self.error_type = ""
        self.usage: Usage | None = None
        self.token_source = "provider"  # or "estimated"; only reported with `usage`
        self.first_byte: float | None = None  # loop time of the first body byte sent
        self.upstream_request_id = ""
        # Routing (dataplane/http/proxy.py): what the client asked for, every upstream try.
        self.requested_model = ""
        self.attempts: list[usage_pb2.UpstreamAttempt] = []
        # Pricing: None = no price known (never reported as 0).
        self.cost_micro_usd: int | None = None
        self.price_catalog_version = ""
        # Prompt metadata/text per the key's prompt logging policy; set once authorised.
        self.prompt: PromptCapture | None = None
        # Attribution beyond actor (from the actor token / bound actor), labels when allowed.
        self.team = ""
        self.app = ""
        self.environment = ""
        self.workflow = ""
        self.labels: dict[str, str] | None = None
        # Why policy blocked the request; what a shadow policy would have blocked it for.
        self.policy_reason = ""
        self.shadow_reason = ""
        # Set when usage still needs a blocking settle (proxy.py, a cancelled stream).
        self.deferred_settle: Callable[[], None] | None = None

    def set_key(self, key: Any) -> None:
        """Attribute the request to a key (a CompiledKey, or one named by a failed auth)."""
        self.workspace = key.workspace.name
        self.key = key.name
        self.actor = key.actor

    def fail(self, status: int, error_type: str) -> None:
        self.http_status = status
        self.error_type = error_type
        if error_type in POLICY_REASONS:
            self.policy_reason = error_type

    def set_attribution(self, who: Attribution) -> None:
        self.actor = who.actor
        self.team = who.team
        self.app = who.app
        self.environment = who.environment
        self.workflow = who.workflow

    def shadow(self, reason: str) -> None:
        """Record what a shadow policy would have blocked for (the first reason wins)."""
        if reason and not self.shadow_reason:
            self.shadow_reason = reason

    def defer_settle(self, settle: Callable[[], None]) -> None:
        """Settle usage (a blocking token estimate) in a thread before the event is built."""
        self.deferred_settle = settle

    def to_event(self, end_mono: float, dataplane_id: str) -> usage_pb2.UsageEvent:
        first_byte = self.first_byte
        ev = usage_pb2.UsageEvent(
            event_id=self.request_id,
            workspace=self.workspace,
            key=self.key,
            provider=self.provider,
            model=self.model,
            endpoint=self.endpoint,
            stream=self.stream,
            http_status=self.http_status,
            latency_ms=(end_mono - self.start_mono) * 1000.0,
            time_to_first_token_ms=((first_byte - self.start_mono) * 1000.0 if first_byte else 0.0),
            dataplane_id=dataplane_id,
            client_ip=self.client_ip,
            request_id=self.request_id,
            requested_model=self.requested_model,
        )
        # Mostly empty (the proto default): set only when there is something to say.
        if self.actor:
            ev.actor = self.actor
        if self.error_type:
            ev.error_type = self.error_type
        if self.upstream_request_id:
            ev.upstream_request_id = self.upstream_request_id
        if self.price_catalog_version:
            ev.price_catalog_version = self.price_catalog_version
        if self.team:
            ev.team = self.team
        if self.app:
            ev.app = self.app
        if self.environment:
            ev.environment = self.environment
        if self.workflow:
            ev.workflow = self.workflow
        if self.policy_reason:
            ev.policy_reason = self.policy_reason
        if self.shadow_reason:
            ev.shadow_reason = self.shadow_reason
        if self.attempts:
            ev.attempts.extend(self.attempts)
        if self.labels:
            ev.labels.update(self.labels)
        if self.cost_micro_usd is not None:
            ev.cost_micro_usd = self.cost_micro_usd
        ts = ev.start_time  # what Timestamp.FromNanoseconds does, without its checks
        ts.seconds, ts.nanos = divmod(self.start_ns, 1_000_000_000)
        u = self.usage
        if u is not None:
            ev.prompt_tokens = u.prompt_tokens
            ev.completion_tokens = u.completion_tokens
            ev.total_tokens = u.total_tokens
            if u.cached_tokens is not None:
                ev.cached_tokens = u.cached_tokens
            if u.reasoning_tokens is not None:
                ev.reasoning_tokens = u.reasoning_tokens
            if u.cache_creation_tokens is not None:
                ev.cache_creation_tokens = u.cache_creation_tokens
            ev.token_source = self.token_source
        if self.prompt is not None:
            # Metadata always; redacted text only under FULL logging.
            end_s = self.start_ns / 1e9 + (end_mono - self.start_mono)
            self.prompt.fill(ev, u.prompt_tokens if u is not None else None, end_s)
        return ev
