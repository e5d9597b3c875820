"""Envelope encryption, KEK files and token files."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from controlplane.secrets import EnvelopeCipher, Kek, SecretError, load_or_create_kek
from controlplane.statefiles import load_token

SECRET = b"sk-live-super-secret-value"


def test_round_trip_and_fresh_data_key_per_secret() -> None:
    cipher = EnvelopeCipher(Kek.generate())
    a, b = cipher.encrypt(SECRET), cipher.encrypt(SECRET)
    assert a != b
    assert SECRET not in a
    assert cipher.decrypt(a) == SECRET == cipher.decrypt(b)
    assert cipher.decrypt(cipher.encrypt(b"")) == b""


def test_blob_names_its_kek() -> None:
    kek = Kek.generate()
    blob = EnvelopeCipher(kek).encrypt(SECRET)
    assert kek.kek_id.encode() in blob


def test_wrong_kek_fails_loudly() -> None:
    blob = EnvelopeCipher(Kek.generate()).encrypt(SECRET)
    with pytest.raises(SecretError, match="encrypted with KEK"):
        EnvelopeCipher(Kek.generate()).decrypt(blob)


def test_same_id_but_tampered_blob_fails() -> None:
    cipher = EnvelopeCipher(Kek.generate())
    blob = bytearray(cipher.encrypt(SECRET))
    blob[-1] ^= 1
    with pytest.raises(SecretError, match="wrong KEK or corrupted"):
        cipher.decrypt(bytes(blob))
    for garbage in (b"", b"OGE1", b"nope" * 10, bytes(blob[:30])):
        with pytest.raises(SecretError):
            cipher.decrypt(garbage)


def test_rotation_keeps_old_blobs_readable() -> None:
    old, new = Kek.generate(), Kek.generate()
    blob = EnvelopeCipher(old).encrypt(SECRET)
    rotated = EnvelopeCipher(new, previous=[old])
    assert rotated.decrypt(blob) == SECRET
    assert new.kek_id.encode() in rotated.encrypt(SECRET)


def test_reprs_redact_key_material() -> None:
    kek = Kek.generate()
    for text in (repr(kek), repr(EnvelopeCipher(kek))):
        assert kek.to_base64() not in text and kek.key.hex() not in text


def test_kek_file_created_private_and_reused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_or_create_kek(state, {})
    assert (state / "kek").stat().st_mode & 0o777 == 0o600
    assert load_or_create_kek(state, {}).key == first.key


def test_kek_env_override(tmp_path: Path) -> None:
    raw = os.urandom(32)
    kek = load_or_create_kek(tmp_path, {"OGGY_KEK": base64.b64encode(raw).decode()})
    assert kek.key == raw
    assert not (tmp_path / "kek").exists()
    with pytest.raises(ValueError):
        load_or_create_kek(tmp_path, {"OGGY_KEK": base64.b64encode(b"short").decode()})
    with pytest.raises(ValueError):
        load_or_create_kek(tmp_path, {"OGGY_KEK": "***"})


def test_token_files(tmp_path: Path) -> None:
    token = load_token(tmp_path / "admin_token", None)
    assert len(token) >= 32
    assert (tmp_path / "admin_token").stat().st_mode & 0o777 == 0o600
    assert load_token(tmp_path / "admin_token", None) == token
    assert load_token(tmp_path / "admin_token", "from-env") == "from-env"
