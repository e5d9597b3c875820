import logging
import stat
from pathlib import Path

import pytest

from dataplane.usage.spool import Spool, SpoolFull
from oggy.v1 import usage_pb2, usage_service_pb2


def batch(batch_id: str, n: int = 2) -> usage_service_pb2.ReportUsageRequest:
    return usage_service_pb2.ReportUsageRequest(
        batch_id=batch_id,
        dataplane_id="dp1",
        events=[usage_pb2.UsageEvent(event_id=f"{batch_id}-{i}", model="m") for i in range(n)],
    )


def open_spool(path: Path, **kw) -> Spool:
    spool = Spool(path, **kw)
    spool.recover()
    return spool


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


def replayed(path: Path, **kw) -> list[str]:
    """What a restarted process would resend (the old Spool object is simply abandoned,
    as after SIGKILL)."""
    return [ref.batch_id for ref in Spool(path, **kw).recover()]


def test_crash_replay_returns_unacked_batches_in_order(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append([batch("a"), batch("b")])
    spool.append([batch("c", n=5)])
    spool.ack("b")

    refs = Spool(tmp_path).recover()
    # "b" was acked but its segment still holds "a" and "c": at-least-once, so it
    # is resent; the store dedupes by event_id.
    assert [r.batch_id for r in refs] == ["a", "b", "c"]
    assert [r.events for r in refs] == [2, 2, 5]


def test_read_returns_the_spooled_batch(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    refs = spool.append([batch("a"), batch("b", n=3)])
    assert spool.read(refs[1]) == batch("b", n=3)
    recovered = Spool(tmp_path)
    assert [recovered.read(r) for r in recovered.recover()] == [batch("a"), batch("b", n=3)]


def test_segments_are_private(tmp_path: Path) -> None:
    open_spool(tmp_path / "spool").append([batch("a")])
    (seg,) = segments(tmp_path / "spool")
    assert stat.S_IMODE(seg.stat().st_mode) == 0o600


def test_torn_tail_is_skipped_and_truncated(tmp_path: Path, caplog) -> None:
    spool = open_spool(tmp_path)
    spool.append([batch("a"), batch("b")])
    (seg,) = segments(tmp_path)
    good_size = seg.stat().st_size
    # A crash halfway through writing the next record: a header and part of a payload.
    payload = batch("c").SerializeToString()
    with seg.open("ab") as f:
        f.write(len(payload).to_bytes(4, "big") + b"\0\0\0\0" + payload[:7])

    with caplog.at_level(logging.WARNING):
        assert replayed(tmp_path) == ["a", "b"]
    assert "torn or damaged record" in caplog.text
    assert seg.stat().st_size == good_size


def test_torn_header_is_skipped(tmp_path: Path) -> None:
    open_spool(tmp_path).append([batch("a")])
    (seg,) = segments(tmp_path)
    with seg.open("ab") as f:
        f.write(b"\x00\x00")
    assert replayed(tmp_path) == ["a"]


def test_corrupt_last_record_fails_crc(tmp_path: Path) -> None:
    open_spool(tmp_path).append([batch("a"), batch("b")])
    (seg,) = segments(tmp_path)
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF
    seg.write_bytes(bytes(data))
    assert replayed(tmp_path) == ["a"]


def test_spool_keeps_working_after_recovering_a_torn_tail(tmp_path: Path) -> None:
    open_spool(tmp_path).append([batch("a")])
    (seg,) = segments(tmp_path)
    with seg.open("ab") as f:
        f.write(b"\xff\xff\xff\xff\0\0\0\0garbage")
    spool = open_spool(tmp_path)
    spool.append([batch("b")])
    assert replayed(tmp_path) == ["a", "b"]


def test_segment_deleted_only_when_every_batch_acked(tmp_path: Path) -> None:
    # Tiny segments: each append closes its segment, so batches land in separate files.
    spool = open_spool(tmp_path, segment_bytes=1)
    spool.append([batch("a"), batch("b")])
    spool.append([batch("c")])
    first, second = segments(tmp_path)

    spool.ack("a")
    assert first.exists()
    spool.ack("c")
    assert not second.exists()
    assert first.exists()
    spool.ack("b")
    assert segments(tmp_path) == []
    assert spool.size_bytes() == 0
    assert replayed(tmp_path) == []


def test_active_segment_deleted_when_fully_acked(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append([batch("a")])
    spool.ack("a")
    assert segments(tmp_path) == []
    spool.append([batch("b")])  # a fresh segment is opened
    assert replayed(tmp_path) == ["b"]


def test_unknown_and_repeated_acks_are_ignored(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append([batch("a"), batch("b")])
    spool.ack("a")
    spool.ack("a")
    spool.ack("never-spooled")
    assert spool.unacked_batches() == 1


def test_size_cap_warns_above_80_percent_and_refuses_past_the_cap(tmp_path: Path, caplog) -> None:
    record = len(batch("x").SerializeToString()) + 8
    spool = open_spool(tmp_path, max_bytes=record * 5, segment_bytes=1)
    with caplog.at_level(logging.WARNING):
        for name in "abcd":
            spool.append([batch(name)])
        assert "full" not in caplog.text
        assert spool.usage_ratio() == pytest.approx(0.8)
        spool.append([batch("e")])
        assert spool.usage_ratio() == pytest.approx(1.0)
        warnings = [r for r in caplog.records if "% full" in r.getMessage()]
        assert len(warnings) == 1

        with pytest.raises(SpoolFull):
            spool.append([batch("f")])
        assert replayed(tmp_path, max_bytes=record * 5) == ["a", "b", "c", "d", "e"]

    with caplog.at_level(logging.INFO):
        spool.ack("a")
        assert "back under" in caplog.text
    spool.append([batch("f")])  # room again


def test_recover_counts_existing_bytes_against_the_cap(tmp_path: Path) -> None:
    record = len(batch("x").SerializeToString()) + 8
    open_spool(tmp_path).append([batch("a"), batch("b")])
    spool = open_spool(tmp_path, max_bytes=record * 2)
    assert spool.size_bytes() == record * 2
    with pytest.raises(SpoolFull):
        spool.append([batch("c")])


def test_reporter_batches_are_bounded_by_count_and_bytes() -> None:
    from dataplane.usage.batch import chunks as _chunks
    from oggy.v1 import usage_pb2

    def ser(events: list[usage_pb2.UsageEvent]) -> list[bytes]:
        return [e.SerializeToString() for e in events]

    small = ser([usage_pb2.UsageEvent(event_id=f"e{i}") for i in range(5)])
    assert [len(c) for c in _chunks(small, 2, 1 << 20)] == [2, 2, 1]
    big = ser(
        [
            usage_pb2.UsageEvent(
                event_id=f"b{i}", prompt_text=usage_pb2.PromptText(request_text="x" * 1000)
            )
            for i in range(5)
        ]
    )
    chunks = list(_chunks(big, 500, 2500))
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert [usage_pb2.UsageEvent.FromString(e).event_id for c in chunks for e in c] == [
        f"b{i}" for i in range(5)
    ]
    # One event over the cap still travels, alone.
    assert [len(c) for c in _chunks(big[:2], 500, 10)] == [1, 1]


def test_encoded_batch_is_the_request_the_control_plane_parses(tmp_path: Path) -> None:
    from dataplane.usage.batch import encode_batches
    from oggy.v1 import usage_pb2

    events = [
        usage_pb2.UsageEvent(event_id=f"e{i}", model="m", total_tokens=i, prompt_tokens=i * 300)
        for i in range(300)
    ]
    ids = iter(["b1", "b2"])
    batches = encode_batches(
        [e.SerializeToString() for e in events],
        dataplane_id="dp-1",
        new_batch_id=lambda: next(ids),
        max_events=200,
        max_bytes=1 << 20,
    )
    assert [(b.batch_id, b.events) for b in batches] == [("b1", 200), ("b2", 100)]
    first = usage_service_pb2.ReportUsageRequest.FromString(batches[0].payload)
    assert first == usage_service_pb2.ReportUsageRequest(
        batch_id="b1", events=events[:200], dataplane_id="dp-1"
    )
    spool = open_spool(tmp_path)
    (ref, _) = spool.append(batches)
    assert spool.read(ref) == first
