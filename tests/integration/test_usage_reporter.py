"""UsageReporter against a real grpc.aio server whose fake store is idempotent by event_id."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from dataplane.backoff import Backoff
from dataplane.settings import Settings
from dataplane.usage.reporter import UsageReporter
from oggy.v1 import usage_pb2
from tests.integration.dataplane_fakes import (
    TOKEN,
    CountingBackoff,
    FakeStore,
    FakeUsageServicer,
    free_port,
    start_server,
)

REPO = Path(__file__).resolve().parents[2]


def settings(port: int, spool: Path) -> Settings:
    return Settings(
        control_plane=f"127.0.0.1:{port}", node_token=TOKEN, node_id="dp-test", spool_dir=spool
    )


def event(i: int, prefix: str = "e") -> usage_pb2.UsageEvent:
    return usage_pb2.UsageEvent(event_id=f"{prefix}{i:05d}", model="gpt-4o-mini", total_tokens=i)


def segments(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.seg"))


async def test_events_are_batched_and_acked(tmp_path) -> None:
    store = FakeStore()
    servicer = FakeUsageServicer(store)
    server, port = await start_server(usage=servicer)
    reporter = UsageReporter(settings(port, tmp_path / "spool"))
    await reporter.start()
    try:
        for i in range(1234):
            reporter.emit(event(i))
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    assert sorted(store.events) == [f"e{i:05d}" for i in range(1234)]
    assert max(len(b.events) for b in servicer.batches) <= 500
    assert {b.dataplane_id for b in servicer.batches} == {"dp-test"}
    assert reporter.queue_depth() == 0
    assert segments(tmp_path / "spool") == []


async def test_a_few_events_are_flushed_by_the_timer(tmp_path) -> None:
    store = FakeStore()
    server, port = await start_server(usage=FakeUsageServicer(store))
    reporter = UsageReporter(settings(port, tmp_path), flush_interval_s=0.05)
    await reporter.start()
    try:
        reporter.emit(event(1))
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    assert list(store.events) == ["e00001"]


async def test_not_stored_batches_are_resent(tmp_path) -> None:
    store = FakeStore()
    servicer = FakeUsageServicer(store, reject=2)
    server, port = await start_server(usage=servicer)
    reporter = UsageReporter(settings(port, tmp_path), backoff=Backoff(0.01, 0.05))
    await reporter.start()
    try:
        for i in range(20):
            reporter.emit(event(i))
        await reporter.flush()
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    assert len(store.events) == 20
    seen = Counter(b.batch_id for b in servicer.batches)
    assert max(seen.values()) >= 2  # the rejected batch came back


async def test_control_plane_down_then_up_delivers_everything_once(tmp_path) -> None:
    port = free_port()
    backoff = CountingBackoff()
    reporter = UsageReporter(settings(port, tmp_path), backoff=backoff, max_batch_events=50)
    await reporter.start()
    store = FakeStore()
    server = None
    try:
        for i in range(300):
            reporter.emit(event(i))
        await reporter.flush()
        await asyncio.wait_for(backoff.retried(3), 10)
        assert reporter.queue_depth() == 300
        assert not reporter.connected
        # More traffic while down.
        for i in range(300, 400):
            reporter.emit(event(i))

        servicer = FakeUsageServicer(store)
        server, _ = await start_server(usage=servicer, port=port)
        await asyncio.wait_for(reporter.wait_idle(), 15)
    finally:
        await reporter.stop()
        if server is not None:
            await server.stop(0)
    assert sorted(store.events) == [f"e{i:05d}" for i in range(400)]
    # Batches arrive in the order they were cut.
    first_events = [b.events[0].event_id for b in servicer.batches]
    assert first_events == sorted(first_events)


async def test_graceful_stop_leaves_unacked_batches_spooled_for_the_next_start(
    tmp_path,
) -> None:
    spool = tmp_path / "spool"
    port = free_port()
    first = UsageReporter(settings(port, spool), backoff=Backoff(0.01, 0.05))
    await first.start()
    for i in range(40):
        first.emit(event(i))
    await first.stop(grace_s=0)
    assert segments(spool)

    store = FakeStore()
    servicer = FakeUsageServicer(store)
    server, _ = await start_server(usage=servicer, port=port)
    second = UsageReporter(settings(port, spool))
    await second.start()
    try:
        for i in range(10):
            second.emit(event(i, prefix="live"))
        await asyncio.wait_for(second.wait_idle(), 10)
    finally:
        await second.stop()
        await server.stop(0)
    assert len(store.events) == 50
    # Spool replay goes ahead of live traffic.
    assert servicer.batches[0].events[0].event_id == "e00000"
    assert servicer.batches[-1].events[0].event_id.startswith("live")
    assert segments(spool) == []


_CRASHING_REPORTER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from dataplane.settings import Settings
    from dataplane.usage.reporter import UsageReporter
    from oggy.v1 import usage_pb2

    async def main():
        s = Settings(control_plane=sys.argv[1], node_token="t", spool_dir=Path(sys.argv[2]))
        reporter = UsageReporter(s, max_batch_events=100)
        await reporter.start()
        for i in range(int(sys.argv[3])):
            reporter.emit(usage_pb2.UsageEvent(event_id=f"e{i:05d}"))
        await reporter.flush()
        print("spooled", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_sigkill_after_spooling_loses_nothing(tmp_path) -> None:
    spool = tmp_path / "spool"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_REPORTER,
        f"127.0.0.1:{port}",
        str(spool),
        "750",
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line == b"spooled\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    store = FakeStore()
    server, _ = await start_server(usage=FakeUsageServicer(store), port=port)
    reporter = UsageReporter(settings(port, spool))
    await reporter.start()
    assert reporter.queue_depth() == 750
    try:
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    assert sorted(store.events) == [f"e{i:05d}" for i in range(750)]
    assert set(store.inserts.values()) == {1}


@pytest.mark.parametrize("n", [0, 1])
async def test_stop_without_traffic_or_control_plane_is_quick(tmp_path, n) -> None:
    reporter = UsageReporter(settings(free_port(), tmp_path), backoff=Backoff(0.01, 0.05))
    await reporter.start()
    for i in range(n):
        reporter.emit(event(i))
    await asyncio.wait_for(reporter.stop(grace_s=0.1), 5)
    assert len(segments(tmp_path)) == n
