"""Envelope encryption of provider secrets.

Each secret gets its own random AES-256-GCM data key; the data key is wrapped
(AES-256-GCM) by the key-encryption key (KEK). The blob names the KEK by id, so
a KEK can be rotated later: load the new one as primary and keep the old one for
decrypting until everything is re-encrypted.

Blob layout (all lengths in bytes):
    b"OGE1" | kek_id_len(1) | kek_id | wrap_nonce(12) | wrapped_dek_len(2) | wrapped_dek
           | data_nonce(12) | ciphertext+tag
The header is bound into both GCM operations as associated data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controlplane.statefiles import ensure_private_file

MAGIC = b"OGE1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEK_FILE = "kek"
KEK_ENV = "OGGY_KEK"


class SecretError(Exception):
    """A blob cannot be decrypted (wrong KEK, unknown KEK id, or corrupted)."""


@dataclass(frozen=True, slots=True)
class Kek:
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"KEK must be {KEY_BYTES} bytes, got {len(self.key)}")

    @property
    def kek_id(self) -> str:
        # A hash of the key, not the key: identifies it without revealing it.
        return hashlib.sha256(b"oggy-kek-id\x00" + self.key).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Kek(id={self.kek_id}, key=***)"

    @classmethod
    def from_base64(cls, text: str) -> Kek:
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("KEK is not valid base64") from None
        return cls(raw)

    @classmethod
    def generate(cls) -> Kek:
        return cls(AESGCM.generate_key(bit_length=256))

    def to_base64(self) -> str:
        return base64.b64encode(self.key).decode()


class EnvelopeCipher:
    def __init__(self, primary: Kek, previous: Sequence[Kek] = ()) -> None:
        self._primary = primary
        self._keks = {k.kek_id: k for k in (*previous, primary)}

    @property
    def kek_id(self) -> str:
        return self._primary.kek_id

    def __repr__(self) -> str:
        return f"EnvelopeCipher(kek_id={self.kek_id})"

    def encrypt(self, plaintext: bytes) -> bytes:
        kek_id = self._primary.kek_id.encode()
        dek = AESGCM.generate_key(bit_length=256)
        wrap_nonce, data_nonce = os.urandom(NONCE_BYTES), os.urandom(NONCE_BYTES)
        header = MAGIC + bytes([len(kek_id)]) + kek_id
        wrapped = AESGCM(self._primary.key).encrypt(wrap_nonce, dek, header)
        envelope = header + wrap_nonce + struct.pack(">H", len(wrapped)) + wrapped
        return envelope + data_nonce + AESGCM(dek).encrypt(data_nonce, plaintext, envelope)

    def decrypt(self, blob: bytes) -> bytes:
        kek_id, header, wrap_nonce, wrapped, envelope, data_nonce, ciphertext = _split(blob)
        kek = self._keks.get(kek_id)
        if kek is None:
            raise SecretError(
                f"secret was encrypted with KEK {kek_id}, but the loaded KEK is "
                f"{self.kek_id}: start the control plane with the KEK it was written with"
            )
        try:
            dek = AESGCM(kek.key).decrypt(wrap_nonce, wrapped, header)
            return AESGCM(dek).decrypt(data_nonce, ciphertext, envelope)
        except InvalidTag:
            raise SecretError(
                f"secret does not decrypt with KEK {kek_id}: wrong KEK or corrupted blob"
            ) from None


def _split(blob: bytes) -> tuple[str, bytes, bytes, bytes, bytes, bytes, bytes]:
    try:
        if blob[:4] != MAGIC:
            raise ValueError("bad magic")
        id_len = blob[4]
        pos = 5 + id_len
        kek_id = blob[5:pos].decode("ascii")
        header = blob[:pos]
        wrap_nonce = blob[pos : pos + NONCE_BYTES]
        pos += NONCE_BYTES
        (wrapped_len,) = struct.unpack(">H", blob[pos : pos + 2])
        pos += 2
        wrapped = blob[pos : pos + wrapped_len]
        pos += wrapped_len
        envelope = blob[:pos]
        data_nonce = blob[pos : pos + NONCE_BYTES]
        ciphertext = blob[pos + NONCE_BYTES :]
        if len(wrapped) != wrapped_len or len(data_nonce) != NONCE_BYTES or len(ciphertext) < 16:
            raise ValueError("truncated")
    except (IndexError, ValueError, struct.error, UnicodeDecodeError):
        raise SecretError("not an Oggy secret envelope (corrupted or truncated)") from None
    return kek_id, header, wrap_nonce, wrapped, envelope, data_nonce, ciphertext


def load_or_create_kek(state_dir: Path, environ: Mapping[str, str] | None = None) -> Kek:
    """The KEK from OGGY_KEK (base64), else `<state_dir>/kek`, created 0600 on first start."""
    env = os.environ if environ is None else environ
    if env.get(KEK_ENV):
        return Kek.from_base64(env[KEK_ENV])
    text = ensure_private_file(state_dir / KEK_FILE, lambda: Kek.generate().to_base64())
    try:
        return Kek.from_base64(text)
    except ValueError as exc:
        raise ValueError(f"{state_dir / KEK_FILE}: {exc}") from None
