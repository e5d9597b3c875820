"""InFlight: an admitted request's provisional event is journaled (awaited) before it goes
upstream, renewed as it makes progress, and never once it settles."""

from __future__ import annotations

import asyncio

from dataplane.core.stream_tap import StreamTap
from dataplane.http.inflight import InFlight
from oggy.v1 import usage_pb2
from tests.unit.dataplane.test_interrupted import admitted, chunk


class NoteSink:
    def __init__(self) -> None:
        self.notes: list[usage_pb2.UsageEvent] = []
        self.gate: asyncio.Future[None] | None = None
        self.noted = asyncio.Event()

    def emit(self, event: usage_pb2.UsageEvent) -> None:
        raise AssertionError("InFlight only notes")

    def note(self, event: usage_pb2.UsageEvent) -> asyncio.Future[None]:
        self.notes.append(event)
        self.noted.set()
        self.gate = asyncio.get_running_loop().create_future()
        return self.gate

    def queue_depth(self) -> int:
        return 0


async def test_admission_waits_for_its_note_then_progress_is_noted_until_settled() -> None:
    sink = NoteSink()
    inflight = InFlight(sink, "dp", interval_s=0.01, counter=lambda model: lambda s: 100)
    rec = admitted()
    going = asyncio.ensure_future(inflight.admitted(rec))
    await asyncio.sleep(0)
    assert not going.done() and len(sink.notes) == 1  # not upstream before it is journaled
    assert sink.gate is not None
    sink.gate.set_result(None)
    await going

    async def next_note() -> usage_pb2.UsageEvent:
        sink.noted.clear()
        await asyncio.wait_for(sink.noted.wait(), 5)
        return sink.notes[-1]

    # A tick counts the prompt with the tokenizer (off the loop): 3 + 4 + 100.
    assert (await next_note()).prompt_tokens == 107
    rec.tap = StreamTap(drop_usage_chunk=True)
    rec.tap.feed(chunk("a") + chunk("b"))
    assert (await next_note()).completion_tokens == 2
    await asyncio.sleep(0.05)
    count = len(sink.notes)  # no progress, no note
    inflight.settled(rec)
    rec.tap.feed(chunk("c"))
    await asyncio.sleep(0.05)
    assert len(sink.notes) == count
    await inflight.close()
