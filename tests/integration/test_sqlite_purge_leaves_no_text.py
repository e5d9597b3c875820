"""Purged prompt text is gone from every file SQLite keeps, WAL included."""

from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from controlplane.usage import SqliteUsageStore
from oggy.v1 import usage_pb2

MARKER = "zebra-quartz-marker-7731"


async def test_purge_scrubs_the_database_and_its_wal(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    store = SqliteUsageStore(db, clock=lambda: 1_700_000_050.0)
    try:
        event = usage_pb2.UsageEvent(
            event_id="e1",
            workspace="workspaces/w",
            start_time=Timestamp(seconds=1_700_000_000),
            prompt_text=usage_pb2.PromptText(
                request_text=f"user: {MARKER}",
                expire_time=Timestamp(seconds=1_700_000_100),
            ),
        )
        await store.insert([event])
        assert await store.purge_expired(1_700_000_200 * 1_000_000) == 1
        # While still open: closing would checkpoint the WAL away by itself.
        assert_no_marker(tmp_path)
    finally:
        await store.close()


def assert_no_marker(directory: Path) -> None:
    files = [p for p in directory.iterdir() if p.name.startswith("usage.db")]
    assert files
    for path in files:
        assert MARKER.encode() not in path.read_bytes(), path.name
