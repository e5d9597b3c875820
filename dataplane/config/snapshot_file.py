"""The last good Snapshot on disk, so a data plane can start without a control plane.

The file holds decrypted provider secrets: it is written 0600 and only ever
replaced atomically. Encrypting it at rest is a later issue.

Layout: MAGIC | u32 crc32(payload) big-endian | payload (serialized Snapshot).
The CRC catches a damaged file; protobuf alone would happily parse garbage.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

from google.protobuf.message import DecodeError

from oggy.v1 import snapshot_pb2

log = logging.getLogger(__name__)

_MAGIC = b"OGGYSNAP1\n"
_CRC = struct.Struct(">I")


class SnapshotFileError(Exception):
    """The snapshot file exists but cannot be used."""


def write_snapshot_file(path: Path, snapshot: snapshot_pb2.Snapshot) -> None:
    """Atomically replace `path` with `snapshot`: temp file + fsync + rename + dir fsync."""
    payload = snapshot.SerializeToString()
    data = _MAGIC + _CRC.pack(zlib.crc32(payload)) + payload
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created 0600 from the start: a chmod after writing would leave a window.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def read_snapshot_file(path: Path) -> snapshot_pb2.Snapshot | None:
    """The stored Snapshot, None if there is no file; SnapshotFileError if it is damaged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SnapshotFileError(f"cannot read {path}: {e.strerror}") from None
    header = len(_MAGIC) + _CRC.size
    if len(data) < header or not data.startswith(_MAGIC):
        raise SnapshotFileError(f"{path} is not an oggy snapshot file")
    (crc,) = _CRC.unpack_from(data, len(_MAGIC))
    payload = data[header:]
    if zlib.crc32(payload) != crc:
        raise SnapshotFileError(f"{path} failed its checksum")
    try:
        return snapshot_pb2.Snapshot.FromString(payload)
    except DecodeError as e:
        raise SnapshotFileError(f"{path} does not decode: {e}") from None


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform/filesystem allows it.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        log.debug("fsync of directory %s not supported", directory)
    finally:
        os.close(fd)
