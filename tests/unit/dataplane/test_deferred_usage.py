"""A cancelled request whose estimate needs a cold tokenizer: settled off the loop, one event."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from dataplane.http.metering import Deps, drain_deferred, metered
from dataplane.http.metrics import Metrics
from dataplane.http.record import RequestRecord
from dataplane.usage_sink import UsageSink
from oggy.v1 import usage_pb2


class ListSink:
    def __init__(self) -> None:
        self.events: list[usage_pb2.UsageEvent] = []

    def emit(self, event: usage_pb2.UsageEvent) -> None:
        self.events.append(event)

    def queue_depth(self) -> int:
        return 0


async def test_deferred_settle_runs_in_a_thread_then_emits_once() -> None:
    sink = ListSink()
    sink_: UsageSink = sink
    deps = Deps(None, sink_, None, Metrics(), "dp", lambda: "id-1")  # type: ignore[arg-type]
    loop_thread = threading.get_ident()
    settled_in: list[int] = []

    async def inner(request: web.Request, rec: RequestRecord) -> web.StreamResponse:
        rec.fail(499, "client_disconnected")

        def settle() -> None:
            settled_in.append(threading.get_ident())
            rec.token_source = "estimated"

        rec.defer_settle(settle)
        raise asyncio.CancelledError

    handler = metered("/v1/chat/completions", deps, inner)
    with pytest.raises(asyncio.CancelledError):
        await handler(make_mocked_request("POST", "/v1/chat/completions"))
    await drain_deferred(deps)
    assert len(sink.events) == 1
    assert settled_in and settled_in[0] != loop_thread
    ev = sink.events[0]
    assert (ev.http_status, ev.error_type, ev.event_id) == (499, "client_disconnected", "id-1")
