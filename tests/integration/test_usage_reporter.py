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
from dataplane.usage.framing import unframe
from dataplane.usage.reporter import UsageReporter
from dataplane.usage.spool import Spool
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


def journaled(spool: Path) -> list[str]:
    """Event ids in the journal's segment files, read without opening a Journal."""
    out = []
    for path in sorted((spool / "journal").glob("*.wal")):
        data, offset = path.read_bytes(), 0
        while (record := unframe(data, offset)) is not None:
            out.append(usage_pb2.UsageEvent.FromString(record[0]).event_id)
            offset = record[1]
    return out


def spooled(spool: Path) -> list[str]:
    s = Spool(spool)
    return [e.event_id for ref in s.recover() for e in s.read(ref).events]


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
    assert journaled(tmp_path / "spool") == []


async def test_each_batch_reports_what_is_still_waiting_behind_it(tmp_path) -> None:
    store = FakeStore()
    servicer = FakeUsageServicer(store)
    server, port = await start_server(usage=servicer)
    reporter = UsageReporter(settings(port, tmp_path / "spool"))
    await reporter.start()
    try:
        for i in range(1234):
            reporter.emit(event(i))
        await reporter.flush()  # one flush: batches of 500, 500 and 234
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    # The last batch says the data plane is caught up.
    assert [b.backlog_events for b in servicer.batches] == [734, 234, 0]


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
        # The stream waits for the channel to connect: its reconnect backoff is the only
        # one while the control plane is unreachable, none of ours stacked on top.
        await asyncio.sleep(0.5)
        assert backoff.retries == 0
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


_KILLED_AFTER_EMIT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from dataplane.settings import Settings
    from dataplane.usage.reporter import UsageReporter
    from oggy.v1 import usage_pb2

    async def main():
        control_plane, spool, n, token = sys.argv[1:5]
        s = Settings(control_plane=control_plane, node_token=token, spool_dir=Path(spool))
        reporter = UsageReporter(s, max_batch_events=100, flush_interval_s=0.01)
        await reporter.start()
        n = int(n)
        journaled = []
        for i in range(n):
            journaled.append(reporter.emit(usage_pb2.UsageEvent(event_id=f"e{i:05d}")))
            if i % 50 == 49 and i < n - 1:
                await asyncio.sleep(0.002)  # traffic pacing: flushes spool some meanwhile
        # Every request answered: each waits for its event's journal write, as the HTTP
        # layer does. Die before anything else can run.
        await asyncio.gather(*journaled)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("control_plane_up", [False, True])
async def test_sigkill_right_after_emit_loses_nothing(tmp_path, control_plane_up) -> None:
    n = 3000
    spool = tmp_path / "spool"
    store = FakeStore()
    port = free_port()
    server = None
    if control_plane_up:
        server, _ = await start_server(usage=FakeUsageServicer(store), port=port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_AFTER_EMIT,
        f"127.0.0.1:{port}",
        str(spool),
        str(n),
        TOKEN,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert await asyncio.wait_for(proc.wait(), 60) == -signal.SIGKILL
        if not control_plane_up:
            # Every event is on disk, in the journal or the spool (how many reached the
            # spool before the kill depends on timing, so only the union is asserted).
            assert set(journaled(spool)) | set(spooled(spool)) == {f"e{i:05d}" for i in range(n)}
            server, _ = await start_server(usage=FakeUsageServicer(store), port=port)
        reporter = UsageReporter(settings(port, spool))
        await reporter.start()
        try:
            await asyncio.wait_for(reporter.wait_idle(), 20)
        finally:
            await reporter.stop()
    finally:
        if proc.returncode is None:
            proc.kill()
        if server is not None:
            await server.stop(0)
    assert sorted(store.events) == [f"e{i:05d}" for i in range(n)]
    if not control_plane_up:
        # Nothing was acknowledged before the kill, and journal replay skipped what the
        # spool already held: every event was sent exactly once.
        assert set(store.inserts.values()) == {1}
    assert segments(spool) == [] and journaled(spool) == []


async def test_unspoolable_events_keep_their_journal_segment_until_acked(tmp_path) -> None:
    spool = tmp_path / "spool"
    port = free_port()
    s = settings(port, spool)
    reporter = UsageReporter(
        s, spool=Spool(spool, max_bytes=10), backoff=Backoff(0.01, 0.05)
    )  # a full spool: batches are held in memory only
    await reporter.start()
    store = FakeStore()
    server = None
    try:
        for i in range(20):
            reporter.emit(event(i))
        await reporter.flush()
        assert segments(spool) == []
        assert journaled(spool) == [f"e{i:05d}" for i in range(20)]  # the crash safety net
        server, _ = await start_server(usage=FakeUsageServicer(store), port=port)
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        if server is not None:
            await server.stop(0)
    assert len(store.events) == 20
    assert journaled(spool) == []  # released once acknowledged


async def test_a_broken_journal_falls_back_to_memory(tmp_path, caplog) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "journal").write_text("not a directory")
    store = FakeStore()
    server, port = await start_server(usage=FakeUsageServicer(store))
    reporter = UsageReporter(settings(port, spool))
    await reporter.start()
    try:
        for i in range(30):
            reporter.emit(event(i))
        await asyncio.wait_for(reporter.wait_idle(), 10)
    finally:
        await reporter.stop()
        await server.stop(0)
    assert len(store.events) == 30
    assert caplog.text.count("cannot write the usage journal") == 1
