"""Envelope encryption of provider secrets.

Each secret gets its own random AES-256-GCM data key (DEK); the DEK is wrapped
(AES-256-GCM) by a key-encryption key (KEK). The blob names its KEK by id, so a
KEK can be rotated: the keyring's primary encrypts, every KEK in it decrypts, and
`rewrap` moves a blob to the primary by re-wrapping only its DEK.

Blob layout, version 2 (all lengths in bytes):
    b"OGE2" | kek_id_len(1) | kek_id | wrap_nonce(12) | wrapped_dek_len(2) | wrapped_dek
           | data_nonce(12) | ciphertext+tag
The header (magic, kek id) is the associated data of the DEK wrap; the data is
bound to the magic only, so re-wrapping leaves `data_nonce | ciphertext` unchanged.
Version 1 (b"OGE1") bound the whole envelope into the data encryption; it is still
read, and `rewrap` upgrades it to version 2 (re-encrypting it once).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC_V1 = b"OGE1"
MAGIC = b"OGE2"
KEY_BYTES = 32
NONCE_BYTES = 12
KEK_FILE = "kek"
KEK_ENV = "OGGY_KEK"


class SecretError(Exception):
    """A blob cannot be decrypted (wrong KEK, unknown KEK id, or corrupted)."""


class UnknownKek(SecretError):
    """The blob names a KEK that is not in the keyring."""

    def __init__(self, kek_id: str, known: Sequence[str]) -> None:
        super().__init__(
            f"secret was encrypted with KEK {kek_id}, but the loaded KEK is "
            f"{', '.join(known)}: start the control plane with the KEK it was written with"
        )
        self.kek_id = kek_id


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


@dataclass(frozen=True, slots=True)
class Keyring:
    """The primary KEK (encrypts) and previous ones (decrypt only, until rotated away)."""

    primary: Kek
    previous: tuple[Kek, ...] = ()

    def __post_init__(self) -> None:
        seen = {self.primary.kek_id}
        kept = []
        for kek in self.previous:
            if kek.kek_id not in seen:
                seen.add(kek.kek_id)
                kept.append(kek)
        object.__setattr__(self, "previous", tuple(kept))

    @property
    def ids(self) -> tuple[str, ...]:
        """Primary first."""
        return (self.primary.kek_id, *(k.kek_id for k in self.previous))

    def get(self, kek_id: str) -> Kek | None:
        for kek in (self.primary, *self.previous):
            if kek.kek_id == kek_id:
                return kek
        return None

    def rotated(self, new: Kek) -> Keyring:
        """`new` as primary; every current KEK kept for decryption."""
        return Keyring(new, (self.primary, *self.previous))

    def retaining(self, used: Iterable[str]) -> Keyring:
        """Drop previous KEKs whose id is not in `used` (the primary always stays)."""
        keep = set(used)
        return Keyring(self.primary, tuple(k for k in self.previous if k.kek_id in keep))

    def __repr__(self) -> str:
        return f"Keyring(ids={list(self.ids)})"


@dataclass(frozen=True, slots=True)
class _Blob:
    magic: bytes
    kek_id: str
    header: bytes
    wrap_nonce: bytes
    wrapped: bytes
    envelope: bytes
    data: bytes  # data_nonce | ciphertext+tag

    @property
    def data_nonce(self) -> bytes:
        return self.data[:NONCE_BYTES]

    @property
    def ciphertext(self) -> bytes:
        return self.data[NONCE_BYTES:]

    @property
    def data_aad(self) -> bytes:
        return self.envelope if self.magic == MAGIC_V1 else MAGIC


def _header(kek_id: str) -> bytes:
    raw = kek_id.encode("ascii")
    return MAGIC + bytes([len(raw)]) + raw


def _wrap(kek: Kek, dek: bytes) -> bytes:
    """header | wrap_nonce | wrapped_len | wrapped, for the primary KEK."""
    header = _header(kek.kek_id)
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(kek.key).encrypt(wrap_nonce, dek, header)
    return header + wrap_nonce + struct.pack(">H", len(wrapped)) + wrapped


class EnvelopeCipher:
    """Encrypts under the keyring's primary KEK; the keyring can be swapped while running."""

    def __init__(self, primary: Kek | Keyring, previous: Sequence[Kek] = ()) -> None:
        self._ring = primary if isinstance(primary, Keyring) else Keyring(primary, tuple(previous))

    @property
    def kek_id(self) -> str:
        return self._ring.primary.kek_id

    @property
    def keyring(self) -> Keyring:
        return self._ring

    def use(self, keyring: Keyring) -> None:
        """Replace the keyring (one reference swap: callers never see a partial one)."""
        self._ring = keyring

    def __repr__(self) -> str:
        return f"EnvelopeCipher(kek_id={self.kek_id})"

    def encrypt(self, plaintext: bytes) -> bytes:
        dek = AESGCM.generate_key(bit_length=256)
        return _wrap(self._ring.primary, dek) + self._seal(dek, plaintext)

    def decrypt(self, blob: bytes) -> bytes:
        parsed = _split(blob)
        dek = self._unwrap(parsed)
        try:
            return AESGCM(dek).decrypt(parsed.data_nonce, parsed.ciphertext, parsed.data_aad)
        except InvalidTag:
            raise SecretError(
                f"secret does not decrypt with KEK {parsed.kek_id}: wrong KEK or corrupted blob"
            ) from None

    def rewrap(self, blob: bytes) -> bytes:
        """The same secret with its DEK wrapped by the primary KEK.

        A version-2 blob keeps `data_nonce | ciphertext` byte for byte; a blob already
        under the primary is returned as is. Raises SecretError like `decrypt`.
        """
        parsed = _split(blob)
        if parsed.magic == MAGIC and parsed.kek_id == self.kek_id:
            return blob
        dek = self._unwrap(parsed)
        if parsed.magic == MAGIC:
            return _wrap(self._ring.primary, dek) + parsed.data
        # Version 1 bound the old envelope into the data: re-encrypt once to upgrade.
        plaintext = self.decrypt(blob)
        return _wrap(self._ring.primary, dek) + self._seal(dek, plaintext)

    @staticmethod
    def _seal(dek: bytes, plaintext: bytes) -> bytes:
        data_nonce = os.urandom(NONCE_BYTES)
        return data_nonce + AESGCM(dek).encrypt(data_nonce, plaintext, MAGIC)

    def _unwrap(self, parsed: _Blob) -> bytes:
        kek = self._ring.get(parsed.kek_id)
        if kek is None:
            raise UnknownKek(parsed.kek_id, self._ring.ids)
        try:
            return AESGCM(kek.key).decrypt(parsed.wrap_nonce, parsed.wrapped, parsed.header)
        except InvalidTag:
            raise SecretError(
                f"secret does not decrypt with KEK {parsed.kek_id}: wrong KEK or corrupted blob"
            ) from None


def blob_kek_id(blob: bytes) -> str:
    """The id of the KEK a blob's data key is wrapped with; SecretError if malformed."""
    return _split(blob).kek_id


def _split(blob: bytes) -> _Blob:
    try:
        magic = blob[:4]
        if magic not in (MAGIC, MAGIC_V1):
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
        data = blob[pos:]
        if len(wrapped) != wrapped_len or len(data) < NONCE_BYTES + 16:
            raise ValueError("truncated")
    except (IndexError, ValueError, struct.error, UnicodeDecodeError):
        raise SecretError("not an Oggy secret envelope (corrupted or truncated)") from None
    return _Blob(magic, kek_id, header, wrap_nonce, wrapped, blob[:pos], data)


def load_or_create_kek(state_dir: Path, environ: Mapping[str, str] | None = None) -> Kek:
    """The primary KEK from OGGY_KEK (base64), else `<state_dir>/kek` (created 0600)."""
    from controlplane.keyring import keyring_source  # the file format lives there

    return keyring_source(state_dir, environ=environ).load().primary
