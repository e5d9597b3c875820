"""What one request did, observed along its way; `settlement.settle` makes it a UsageEvent."""

from __future__ import annotations

from collections.abc import Callable

from dataplane.core.admission import Verdict
from dataplane.core.estimate import Count
from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import Usage
from dataplane.quota.table import Reservation
from oggy.contract.compile import CompiledProvider
from oggy.contract.routing import Target
from oggy.v1 import usage_pb2

# A token estimate waiting for a tokenizer (count(text) -> tokens).
Estimate = Callable[[Count], Usage | None]


class RequestRecord:
    __slots__ = (
        "attempts",
        "endpoint",
        "error_type",
        "estimate",
        "event_id",
        "first_byte",
        "http_status",
        "model",
        "peer",
        "prompt",
        "provider",
        "quota",
        "request_id",
        "served",
        "start_mono",
        "start_ns",
        "stream",
        "tap",
        "upstream_request_id",
        "usage",
        "verdict",
    )

    def __init__(
        self,
        event_id: str,
        request_id: str,
        endpoint: str,
        start_ns: int,
        start_mono: float,
        peer: str,
    ) -> None:
        self.event_id = event_id  # the gateway's own (UUIDv7): the store dedups on it
        self.request_id = request_id  # echoed in `X-Request-Id`: the client's when valid
        self.endpoint = endpoint
        self.start_ns = start_ns
        self.start_mono = start_mono
        self.peer = peer  # the socket's address (admission may believe X-Forwarded-For)
        # Who asked and what was decided; None when the request never got that far.
        self.verdict: Verdict | None = None
        # The target being tried, then the one that answered (proxy.open_with_fallback).
        self.provider = ""
        self.model = ""
        self.served: Target[CompiledProvider] | None = None
        self.attempts: list[usage_pb2.UpstreamAttempt] = []
        self.stream = False
        self.http_status = 0
        self.error_type = ""
        self.first_byte: float | None = None  # loop time of the first body byte sent
        # The tap of a stream being relayed: its progress, should this process die.
        self.tap: StreamTap | None = None
        self.upstream_request_id = ""
        # The provider's counts; else, when it sent none, how to estimate them.
        self.usage: Usage | None = None
        self.estimate: Estimate | None = None
        # Prompt metadata/text per the key's prompt logging policy; set once admitted.
        self.prompt: PromptCapture | None = None
        # What quota admission counted for it: settled once, when its event is built.
        self.quota: Reservation | None = None

    def fail(self, status: int, error_type: str) -> None:
        self.http_status = status
        self.error_type = error_type
