"""A settlement that tokenises runs in a thread, also for a cancelled request: one event."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from dataplane.config.holder import ConfigHolder
from dataplane.core.admission import Admitted
from dataplane.core.estimate import Count
from dataplane.core.record import RequestRecord
from dataplane.core.usage_extract import Usage
from dataplane.http import metering
from dataplane.http.endpoints import MODELS
from dataplane.http.metering import Deps, drain_deferred, metered
from dataplane.http.metrics import Metrics
from oggy.contract.compile import compile_snapshot
from oggy.contract.identity import ReplayCaches
from oggy.v1 import usage_pb2
from tests.support.identity_snapshot import identity_snapshot, key_text

CFG = compile_snapshot(identity_snapshot(), replay_caches=ReplayCaches())


class ListSink:
    def __init__(self) -> None:
        self.events: list[usage_pb2.UsageEvent] = []

    def emit(self, event: usage_pb2.UsageEvent) -> None:
        self.events.append(event)

    def note(self, event: usage_pb2.UsageEvent) -> None:
        return None

    def queue_depth(self) -> int:
        return 0


async def test_cancelled_request_settles_in_a_thread_then_emits_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counted_in: list[int] = []

    def counter(model: str) -> Count:
        counted_in.append(threading.get_ident())
        return lambda text: len(text.split())

    monkeypatch.setattr(metering, "counter_for_model", counter)
    sink = ListSink()
    deps = Deps(ConfigHolder(CFG), sink, None, Metrics(), "dp", lambda: "id-1")  # type: ignore[arg-type]

    async def inner(request: web.Request, rec: RequestRecord, admitted: Admitted) -> web.Response:
        rec.served = admitted.targets[0]
        rec.fail(499, "client_disconnected")
        rec.estimate = lambda count: Usage(count("two words"), 0, count("two words"))
        raise asyncio.CancelledError

    handler = metered(MODELS, deps, inner)
    request = make_mocked_request(
        "GET", "/v1/models", headers={"Authorization": f"Bearer {key_text('kws')}"}
    )
    with pytest.raises(asyncio.CancelledError):
        await handler(request)
    await drain_deferred(deps)
    assert len(sink.events) == 1
    assert counted_in and counted_in[0] != threading.get_ident()
    ev = sink.events[0]
    assert (ev.http_status, ev.error_type, ev.event_id) == (499, "client_disconnected", "id-1")
    assert (ev.prompt_tokens, ev.token_source) == (2, "estimated")
