"""The usage journal (write-ahead log of emitted events) and start-up recovery."""

import errno
import logging
import os
import stat
from pathlib import Path

from dataplane.usage import journal as journal_mod
from dataplane.usage.framing import frame
from dataplane.usage.journal import Journal
from dataplane.usage.recovery import recover
from dataplane.usage.spool import Spool
from oggy.v1 import usage_pb2, usage_service_pb2


def event(i: int) -> usage_pb2.UsageEvent:
    return usage_pb2.UsageEvent(event_id=f"e{i:04d}", model="gpt-4o-mini", total_tokens=i)


def ids(events) -> list[str]:
    return [e.event_id for e in events]


def open_journal(path: Path) -> Journal:
    j = Journal(path)
    assert j.recover() == []
    return j


def wal_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.wal"))


def recovered(path: Path) -> list[list[str]]:
    """What a restarted process finds (the old Journal is abandoned, as after SIGKILL)."""
    return [ids(s.events) for s in Journal(path).recover()]


def make_batches(events: list[usage_pb2.UsageEvent]) -> list[usage_service_pb2.ReportUsageRequest]:
    return [usage_service_pb2.ReportUsageRequest(batch_id=f"b-{events[0].event_id}", events=events)]


# -- journal ---------------------------------------------------------------------


def test_appended_events_survive_an_abandoned_process(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    for i in range(5):
        j.append(event(i))
    # No close, no flush, no fsync: the records are in the page cache.
    assert recovered(tmp_path) == [["e0000", "e0001", "e0002", "e0003", "e0004"]]
    # Reading does not consume them: only remove() does (after they are spooled).
    assert recovered(tmp_path) == [["e0000", "e0001", "e0002", "e0003", "e0004"]]


def test_recovered_event_is_the_emitted_one(tmp_path: Path) -> None:
    ev = usage_pb2.UsageEvent(
        event_id="x", labels={"a": "b"}, attempts=[usage_pb2.UpstreamAttempt(provider="p")]
    )
    ev.cost_micro_usd = 0
    open_journal(tmp_path).append(ev)
    (segment,) = Journal(tmp_path).recover()
    assert segment.events == [ev]
    assert segment.events[0].HasField("cost_micro_usd")


def test_torn_tail_record_is_skipped(tmp_path: Path, caplog) -> None:
    j = open_journal(tmp_path)
    j.append(event(1))
    j.append(event(2))
    (path,) = wal_files(tmp_path)
    with open(path, "ab") as f:  # a write cut short by the crash
        f.write(frame(event(3).SerializeToString())[:-3])
    with caplog.at_level(logging.WARNING):
        assert recovered(tmp_path) == [["e0001", "e0002"]]
    assert "torn or damaged record" in caplog.text


def test_damaged_record_ends_the_segment_but_not_the_others(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    j.append(event(1))
    j.append(event(2))
    j.rotate()
    j.append(event(3))
    first = wal_files(tmp_path)[0]
    data = bytearray(first.read_bytes())
    data[-1] ^= 0xFF  # CRC mismatch in the second record
    first.write_bytes(bytes(data))
    assert recovered(tmp_path) == [["e0001"], ["e0003"]]


def test_rotate_seals_only_written_segments(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    assert j.rotate() is None  # before recover: nothing to seal
    j.recover()
    assert j.rotate() is None  # nothing written: the empty segment stays active
    j.append(event(1))
    first = j.rotate()
    j.append(event(2))
    j.append(event(3))
    second = j.rotate()
    assert first is not None and second is not None and second > first
    assert len(wal_files(tmp_path)) == 3  # two sealed + the new active one
    j.remove([first])
    assert recovered(tmp_path) == [["e0002", "e0003"]]


def test_new_segments_continue_after_recovered_ones(tmp_path: Path) -> None:
    old = open_journal(tmp_path)
    old.append(event(1))
    segments = Journal(tmp_path).recover()  # a restart; it opens a fresh segment
    (seg,) = segments
    later = Journal(tmp_path)
    assert [s.seq for s in later.recover()] == [seg.seq]
    later.append(event(2))
    assert recovered(tmp_path) == [["e0001"], ["e0002"]]


def test_empty_segments_are_deleted_on_recover_and_close(tmp_path: Path) -> None:
    j = open_journal(tmp_path)
    assert len(wal_files(tmp_path)) == 1
    j.close()
    assert wal_files(tmp_path) == []
    j2 = open_journal(tmp_path)
    j2.append(event(1))
    j2.close()  # written: kept for the next start
    assert recovered(tmp_path) == [["e0001"]]
    crashed = tmp_path / "crashed"
    open_journal(crashed)  # abandoned with an empty active segment
    (abandoned,) = wal_files(crashed)
    open_journal(crashed)
    assert abandoned not in wal_files(crashed) and len(wal_files(crashed)) == 1


def test_segments_are_private(tmp_path: Path) -> None:
    open_journal(tmp_path / "journal").append(event(1))
    (seg,) = wal_files(tmp_path / "journal")
    assert stat.S_IMODE(seg.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "journal").stat().st_mode) == 0o700


def test_write_failure_stops_the_journal_logs_once_and_rotate_retries(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    j = open_journal(tmp_path)
    j.append(event(1))
    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_mod.os, "write", full)
    with caplog.at_level(logging.WARNING):
        j.append(event(2))  # never raises
        j.append(event(3))
        assert not j.writing
        assert caplog.text.count("cannot write the usage journal") == 1
        monkeypatch.setattr(journal_mod.os, "write", real_write)
        sealed = j.rotate()  # the failed segment is sealed (it holds e0001)
        assert sealed is not None
        assert j.writing
        assert "writable again" in caplog.text
    j.append(event(4))
    assert recovered(tmp_path) == [["e0001"], ["e0004"]]


def test_short_write_stops_the_segment(tmp_path: Path, monkeypatch) -> None:
    j = open_journal(tmp_path)
    real_write = os.write
    monkeypatch.setattr(journal_mod.os, "write", lambda fd, data: real_write(fd, data[:5]))
    j.append(event(1))
    assert not j.writing
    monkeypatch.setattr(journal_mod.os, "write", real_write)
    j.append(event(2))  # dropped from the journal (memory only), not written after the tear
    assert recovered(tmp_path) == []


def test_unusable_directory_means_memory_only(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    j = Journal(blocker / "journal")
    with caplog.at_level(logging.ERROR):
        assert j.recover() == []  # logged, not raised: the data plane still starts
    assert "cannot write the usage journal" in caplog.text
    assert not j.writing
    j.append(event(1))  # still never raises
    assert j.rotate() is None and not j.writing


# -- recovery --------------------------------------------------------------------


def test_recovery_spools_journaled_events_and_removes_their_segments(tmp_path: Path) -> None:
    j = open_journal(tmp_path / "journal")
    for i in range(3):
        j.append(event(i))
    j.rotate()
    j.append(event(3))
    spool = Spool(tmp_path)
    found = recover(spool, Journal(tmp_path / "journal"), make_batches)
    assert [r.events for r in found.refs] == [4]
    assert ids(spool.read(found.refs[0]).events) == ["e0000", "e0001", "e0002", "e0003"]
    assert found.unspooled == [] and found.held_segments == []
    assert len(wal_files(tmp_path / "journal")) == 1  # the new active segment only
    assert recovered(tmp_path / "journal") == []


def test_recovery_skips_events_the_spool_already_holds(tmp_path: Path) -> None:
    """A crash between a flush's fsync and the deletion of its journal segment."""
    j = open_journal(tmp_path / "journal")
    old_spool = Spool(tmp_path)
    old_spool.recover()
    old_spool.append(make_batches([event(0), event(1)]))  # an earlier flush, segment gone
    for i in range(2, 6):
        j.append(event(i))
    j.rotate()
    old_spool.append(make_batches([event(2), event(3), event(4), event(5)]))
    j.append(event(6))  # after the flush: only journaled
    spool = Spool(tmp_path)
    found = recover(spool, Journal(tmp_path / "journal"), make_batches)
    replay = [ids(spool.read(r).events) for r in found.refs]
    assert replay == [["e0000", "e0001"], ["e0002", "e0003", "e0004", "e0005"], ["e0006"]]


def test_recovery_with_a_full_spool_holds_events_and_keeps_segments(tmp_path: Path) -> None:
    j = open_journal(tmp_path / "journal")
    j.append(event(1))
    found = recover(Spool(tmp_path, max_bytes=10), Journal(tmp_path / "journal"), make_batches)
    assert found.refs == []
    assert [ids(b.events) for b in found.unspooled] == [["e0001"]]
    assert len(found.held_segments) == 1
    assert recovered(tmp_path / "journal") == [["e0001"]]
