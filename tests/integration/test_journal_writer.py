"""JournalWriter: journal writes off the event loop, awaited, in order with rotations."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from dataplane.usage.framing import unframe
from dataplane.usage.journal import Journal
from dataplane.usage.journal_writer import JournalWriter
from oggy.v1 import usage_pb2


def payload(i: int) -> bytes:
    return usage_pb2.UsageEvent(event_id=f"e{i:04d}").SerializeToString()


def on_disk(directory: Path) -> dict[str, list[str]]:
    """Event ids per segment file, read as a restarted process would."""
    out = {}
    for path in sorted(directory.glob("*.wal")):
        data, offset, ids = path.read_bytes(), 0, []
        while (record := unframe(data, offset)) is not None:
            ids.append(usage_pb2.UsageEvent.FromString(record[0]).event_id)
            offset = record[1]
        out[path.name] = ids
    return out


def all_ids(directory: Path) -> list[str]:
    return [i for ids in on_disk(directory).values() for i in ids]


def started(directory: Path) -> JournalWriter:
    journal = Journal(directory)
    assert journal.recover() == []
    writer = JournalWriter(journal)
    writer.start()
    return writer


async def test_an_awaited_append_is_on_disk_and_was_written_off_the_loop(
    tmp_path: Path, monkeypatch
) -> None:
    writer = started(tmp_path)
    threads = set()
    real = Journal.append_serialized

    def spy(self: Journal, payloads: list[bytes]) -> None:
        threads.add(threading.current_thread().name)
        real(self, payloads)

    monkeypatch.setattr(Journal, "append_serialized", spy)
    try:
        waiters = [writer.append(payload(i)) for i in range(100)]
        assert all(w is not None for w in waiters)
        await asyncio.gather(*waiters)  # type: ignore[arg-type]
        # Done means written: what a SIGKILL now would leave behind.
        assert all_ids(tmp_path) == [f"e{i:04d}" for i in range(100)]
        assert threads == {"usage-journal"}
    finally:
        writer.close()


async def test_rotate_seals_exactly_what_was_appended_before_it(tmp_path: Path) -> None:
    writer = started(tmp_path)
    try:
        first = [writer.append(payload(i)) for i in range(3)]
        sealed = writer.rotate()
        second = [writer.append(payload(i)) for i in range(3, 5)]
        await asyncio.gather(*first, *second)  # type: ignore[arg-type]
        seq = await asyncio.wrap_future(sealed)
        assert seq is not None
        segments = on_disk(tmp_path)
        assert segments[f"{seq:016d}.wal"] == ["e0000", "e0001", "e0002"]
        assert [i for ids in segments.values() for i in ids] == [f"e{i:04d}" for i in range(5)]
        # Nothing appended since: nothing to seal.
        writer.rotate()
        assert await asyncio.wrap_future(writer.rotate()) is None
    finally:
        writer.close()


async def test_close_writes_what_is_queued_and_later_appends_are_not_awaited(
    tmp_path: Path,
) -> None:
    writer = started(tmp_path)
    for i in range(10):
        writer.append(payload(i))
    writer.close()
    assert all_ids(tmp_path) == [f"e{i:04d}" for i in range(10)]
    assert writer.append(payload(99)) is None


async def test_a_broken_journal_still_answers(tmp_path: Path) -> None:
    (tmp_path / "journal").write_text("not a directory")
    journal = Journal(tmp_path / "journal")
    journal.recover()
    writer = JournalWriter(journal)
    writer.start()
    try:
        waiter = writer.append(payload(1))
        assert waiter is not None
        await asyncio.wait_for(waiter, 5)  # nothing written, but nobody hangs
    finally:
        writer.close()


async def test_rotate_carries_the_latest_note_of_each_request_still_open(tmp_path: Path) -> None:
    writer = started(tmp_path)
    try:

        def note(event_id: str, tokens: int) -> asyncio.Future[None] | None:
            ev = usage_pb2.UsageEvent(event_id=event_id, completion_tokens=tokens)
            return writer.note(event_id, ev.SerializeToString())

        note("open", 1)
        note("done", 1)
        note("open", 2)  # progress: replaces the first
        await writer.append(payload(0), "done")  # type: ignore[misc]
        sealed = await asyncio.wrap_future(writer.rotate())
        writer.journal.remove([sealed])  # as the reporter does once its events are spooled
        [segment] = Journal(tmp_path).recover()  # what a restarted process finds
        assert segment.events == []
        assert [(n.event_id, n.completion_tokens) for n in segment.notes] == [("open", 2)]
    finally:
        writer.close()
