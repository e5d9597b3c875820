"""The data plane's snapshot file: encrypted under a key derived from the node token."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from dataplane.config.client import ConfigStreamClient
from dataplane.config.snapshot_file import (
    SnapshotFileError,
    read_snapshot_file,
    write_snapshot_file,
)
from dataplane.settings import Settings
from oggy.v1 import provider_pb2, snapshot_pb2

TOKEN = "node-token-0123456789abcdef"
API_KEY = "sk-provider-VERYSECRET-0123456789"


def snapshot() -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=42,
        providers=[
            snapshot_pb2.ProviderMaterial(
                provider=provider_pb2.ProviderCredential(
                    name="workspaces/w/providers/openai", base_url="https://api.example"
                ),
                api_key=API_KEY,
            )
        ],
    )


def test_round_trip_private_and_without_the_api_key(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "snapshot.bin"
    write_snapshot_file(path, snapshot(), TOKEN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert API_KEY.encode() not in data
    assert b"VERYSECRET" not in data and b"api.example" not in data
    assert TOKEN.encode() not in data
    assert read_snapshot_file(path, TOKEN) == snapshot()
    assert os.listdir(path.parent) == ["snapshot.bin"]


def test_each_write_uses_a_fresh_salt_and_nonce(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_snapshot_file(a, snapshot(), TOKEN)
    write_snapshot_file(b, snapshot(), TOKEN)
    assert a.read_bytes() != b.read_bytes()


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert read_snapshot_file(tmp_path / "absent", TOKEN) is None


def test_another_node_token_cannot_read_it(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.bin"
    write_snapshot_file(path, snapshot(), TOKEN)
    with pytest.raises(SnapshotFileError, match="another node token") as info:
        read_snapshot_file(path, TOKEN + "x")
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("where", [0, 12, 30, -1, "truncate", "empty"])
def test_tampering_is_detected(tmp_path: Path, where) -> None:
    path = tmp_path / "snapshot.bin"
    write_snapshot_file(path, snapshot(), TOKEN)
    data = bytearray(path.read_bytes())
    if where == "truncate":
        data = data[:40]
    elif where == "empty":
        data = bytearray()
    else:
        data[where] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotFileError):
        read_snapshot_file(path, TOKEN)


def test_legacy_plaintext_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.bin"
    path.write_bytes(b"OGGYSNAP1\n\x00\x00\x00\x00" + snapshot().SerializeToString())
    with pytest.raises(SnapshotFileError, match="unencrypted"):
        read_snapshot_file(path, TOKEN)


class Holder:
    def __init__(self) -> None:
        self.applied: list[snapshot_pb2.Snapshot] = []

    def apply(self, cfg: snapshot_pb2.Snapshot) -> None:
        self.applied.append(cfg)


async def _load(path: Path, token: str) -> Holder:
    settings = Settings(node_token=token, node_id="dp", snapshot_file=path)
    holder = Holder()
    client = ConfigStreamClient(settings, holder, lambda s: s)
    await client._load_snapshot_file(path)
    return holder


async def test_data_plane_starts_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.bin"
    write_snapshot_file(path, snapshot(), TOKEN)
    assert (await _load(path, TOKEN)).applied == [snapshot()]


async def test_data_plane_starts_without_an_unreadable_file(tmp_path: Path, caplog) -> None:
    path = tmp_path / "snapshot.bin"
    write_snapshot_file(path, snapshot(), TOKEN)
    with caplog.at_level(logging.WARNING):
        holder = await _load(path, "a-rotated-node-token")
    assert holder.applied == []
    assert "ignoring snapshot file" in caplog.text
    assert API_KEY not in caplog.text and TOKEN not in caplog.text
