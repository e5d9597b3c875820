"""What one request did, collected along its way and emitted as one UsageEvent."""

from __future__ import annotations

from typing import Any

from dataplane.core.usage_extract import Usage
from oggy.v1 import usage_pb2


class RequestRecord:
    __slots__ = (
        "actor",
        "client_ip",
        "endpoint",
        "error_type",
        "first_byte",
        "http_status",
        "key",
        "model",
        "provider",
        "request_id",
        "start_mono",
        "start_ns",
        "stream",
        "token_source",
        "upstream_request_id",
        "usage",
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

    def set_key(self, key: Any) -> None:
        """Attribute the request to a key (a CompiledKey, or one named by a failed auth)."""
        self.workspace = key.workspace.name
        self.key = key.name
        self.actor = key.actor

    def fail(self, status: int, error_type: str) -> None:
        self.http_status = status
        self.error_type = error_type

    def to_event(self, end_mono: float, dataplane_id: str) -> usage_pb2.UsageEvent:
        ev = usage_pb2.UsageEvent(
            event_id=self.request_id,
            workspace=self.workspace,
            key=self.key,
            actor=self.actor,
            provider=self.provider,
            model=self.model,
            endpoint=self.endpoint,
            stream=self.stream,
            http_status=self.http_status,
            error_type=self.error_type,
            latency_ms=(end_mono - self.start_mono) * 1000.0,
            time_to_first_token_ms=(
                (self.first_byte - self.start_mono) * 1000.0 if self.first_byte else 0.0
            ),
            dataplane_id=dataplane_id,
            client_ip=self.client_ip,
            request_id=self.request_id,
            upstream_request_id=self.upstream_request_id,
        )
        ev.start_time.FromNanoseconds(self.start_ns)
        u = self.usage
        if u is not None:
            ev.prompt_tokens = u.prompt_tokens
            ev.completion_tokens = u.completion_tokens
            ev.total_tokens = u.total_tokens
            if u.cached_tokens is not None:
                ev.cached_tokens = u.cached_tokens
            if u.reasoning_tokens is not None:
                ev.reasoning_tokens = u.reasoning_tokens
            ev.token_source = self.token_source
        return ev
