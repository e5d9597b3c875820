"""The last good Snapshot on disk, so a data plane can start without a control plane.

The snapshot holds decrypted provider secrets, so the file is encrypted at rest with
AES-256-GCM under a key derived (HKDF-SHA256, info "oggy snapshot file v1", a random
per-file salt) from the node token: whoever can read the node token could fetch the
config from the control plane anyway, so this adds no secret to manage. It is also
written 0600 and only ever replaced atomically.

Layout: MAGIC | salt(16) | nonce(12) | AES-GCM(serialized Snapshot), MAGIC and salt
as associated data. GCM authenticates: a damaged or tampered file, or another node
token, fails to decrypt (SnapshotFileError) instead of parsing garbage.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError

from oggy.contract.files import write_private_atomic
from oggy.v1 import snapshot_pb2

log = logging.getLogger(__name__)

_MAGIC = b"OGGYSNAP2\n"
_LEGACY_MAGIC = b"OGGYSNAP1\n"
_INFO = b"oggy snapshot file v1"
_SALT_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SnapshotFileError(Exception):
    """The snapshot file exists but cannot be used."""


def _file_key(node_token: str, salt: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
    return AESGCM(hkdf.derive(node_token.encode("utf-8")))


def encrypt_snapshot(snapshot: snapshot_pb2.Snapshot, node_token: str) -> bytes:
    salt, nonce = os.urandom(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    head = _MAGIC + salt
    return (
        head
        + nonce
        + _file_key(node_token, salt).encrypt(nonce, snapshot.SerializeToString(), head)
    )


def decrypt_snapshot(data: bytes, node_token: str, where: str) -> snapshot_pb2.Snapshot:
    if data.startswith(_LEGACY_MAGIC):
        raise SnapshotFileError(
            f"{where} is an unencrypted snapshot file from an older version "
            "(it is replaced, encrypted, with the next config)"
        )
    head_len = len(_MAGIC) + _SALT_BYTES
    if len(data) < head_len + _NONCE_BYTES + _TAG_BYTES or not data.startswith(_MAGIC):
        raise SnapshotFileError(f"{where} is not an oggy snapshot file")
    salt = data[len(_MAGIC) : head_len]
    nonce = data[head_len : head_len + _NONCE_BYTES]
    try:
        payload = _file_key(node_token, salt).decrypt(
            nonce, data[head_len + _NONCE_BYTES :], data[:head_len]
        )
    except InvalidTag:
        raise SnapshotFileError(
            f"{where} does not decrypt: written with another node token, or damaged"
        ) from None
    try:
        return snapshot_pb2.Snapshot.FromString(payload)
    except DecodeError as e:
        raise SnapshotFileError(f"{where} does not decode: {e}") from None


def write_snapshot_file(path: Path, snapshot: snapshot_pb2.Snapshot, node_token: str) -> None:
    """Atomically replace `path` with `snapshot`, encrypted: temp + fsync + rename + dir fsync."""
    data = encrypt_snapshot(snapshot, node_token)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_atomic(path, data)


def read_snapshot_file(path: Path, node_token: str) -> snapshot_pb2.Snapshot | None:
    """The stored Snapshot, None if there is no file.

    SnapshotFileError if it is damaged, tampered with, legacy plaintext, or was
    written under another node token.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise SnapshotFileError(f"cannot read {path}: {e.strerror}") from None
    return decrypt_snapshot(data, node_token, str(path))
