"""KEK keyring: file format, atomic replacement, sources, and re-wrapping data keys."""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controlplane.keyring import (
    EnvKeyring,
    FileKeyring,
    KeyringError,
    dumps,
    keyring_source,
    loads,
)
from controlplane.secrets import (
    EnvelopeCipher,
    Kek,
    Keyring,
    SecretError,
    UnknownKek,
    blob_kek_id,
    load_or_create_kek,
)

SECRET = b"sk-live-super-secret-value"
_B64 = Kek.generate().to_base64()


def _v1_blob(kek: Kek, plaintext: bytes) -> bytes:
    """What the first version of EnvelopeCipher.encrypt wrote (OGE1)."""
    kek_id = kek.kek_id.encode()
    dek = AESGCM.generate_key(bit_length=256)
    wrap_nonce, data_nonce = os.urandom(12), os.urandom(12)
    header = b"OGE1" + bytes([len(kek_id)]) + kek_id
    wrapped = AESGCM(kek.key).encrypt(wrap_nonce, dek, header)
    envelope = header + wrap_nonce + struct.pack(">H", len(wrapped)) + wrapped
    return envelope + data_nonce + AESGCM(dek).encrypt(data_nonce, plaintext, envelope)


def _data_part(blob: bytes) -> bytes:
    """data_nonce | ciphertext of a blob (everything after the wrapped data key)."""
    pos = 5 + blob[4] + 12
    (wrapped_len,) = struct.unpack(">H", blob[pos : pos + 2])
    return blob[pos + 2 + wrapped_len :]


def test_rewrap_changes_only_the_wrapped_data_key() -> None:
    old, new = Kek.generate(), Kek.generate()
    cipher = EnvelopeCipher(old)
    blob = cipher.encrypt(SECRET)
    cipher.use(Keyring(old).rotated(new))
    rewrapped = cipher.rewrap(blob)
    assert blob_kek_id(blob) == old.kek_id and blob_kek_id(rewrapped) == new.kek_id
    assert _data_part(rewrapped) == _data_part(blob)
    assert EnvelopeCipher(new).decrypt(rewrapped) == SECRET
    assert cipher.rewrap(rewrapped) is rewrapped  # already under the primary


def test_version_1_blobs_decrypt_and_rewrap_to_version_2() -> None:
    old, new = Kek.generate(), Kek.generate()
    v1 = _v1_blob(old, SECRET)
    assert EnvelopeCipher(old).decrypt(v1) == SECRET
    cipher = EnvelopeCipher(Keyring(old).rotated(new))
    upgraded = cipher.rewrap(v1)
    assert upgraded[:4] == b"OGE2" and blob_kek_id(upgraded) == new.kek_id
    assert EnvelopeCipher(new).decrypt(upgraded) == SECRET


def test_swapped_data_keys_do_not_decrypt() -> None:
    cipher = EnvelopeCipher(Kek.generate())
    a, b = cipher.encrypt(b"secret-a"), cipher.encrypt(b"secret-b")
    mixed = a[: len(a) - len(_data_part(a))] + _data_part(b)
    with pytest.raises(SecretError):
        cipher.decrypt(mixed)


def test_unknown_kek_names_ids_only() -> None:
    writer, reader = Kek.generate(), Kek.generate()
    blob = EnvelopeCipher(writer).encrypt(SECRET)
    with pytest.raises(UnknownKek) as info:
        EnvelopeCipher(reader).decrypt(blob)
    assert info.value.kek_id == writer.kek_id
    assert reader.kek_id in str(info.value)
    for kek in (writer, reader):
        assert kek.to_base64() not in str(info.value)


def test_keyring_rotated_and_retaining() -> None:
    a, b, c = Kek.generate(), Kek.generate(), Kek.generate()
    ring = Keyring(a).rotated(b).rotated(c)
    assert ring.ids == (c.kek_id, b.kek_id, a.kek_id)
    assert ring.retaining({a.kek_id}).ids == (c.kek_id, a.kek_id)
    assert ring.retaining(()).ids == (c.kek_id,)
    assert Keyring(a, (a, b, b)).ids == (a.kek_id, b.kek_id)
    assert a.to_base64() not in repr(ring)


def test_keyring_file_round_trip_private_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kek"
    source = FileKeyring(path)
    first = source.load()
    assert path.stat().st_mode & 0o777 == 0o600
    assert source.load() == first
    ring = first.rotated(Kek.generate())
    source.save(ring)
    assert path.stat().st_mode & 0o777 == 0o600
    assert source.load() == ring
    doc = json.loads(path.read_text())
    assert doc["primary"] == ring.primary.kek_id
    assert [k["id"] for k in doc["keys"]] == list(ring.ids)
    assert os.listdir(path.parent) == ["kek"]  # no temp file left behind


def test_legacy_single_key_file_is_a_one_key_keyring(tmp_path: Path) -> None:
    kek = Kek.generate()
    (tmp_path / "kek").write_text(kek.to_base64() + "\n")
    (tmp_path / "kek").chmod(0o600)
    assert FileKeyring(tmp_path / "kek").load() == Keyring(kek)
    assert load_or_create_kek(tmp_path, {}).key == kek.key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 !!",
        base64.b64encode(b"short").decode(),
        "{",
        json.dumps({"version": 9, "keys": []}),
        json.dumps({"version": 1, "keys": []}),
        json.dumps(
            {"version": 1, "primary": "nope", "keys": [{"key": Kek.generate().to_base64()}]}
        ),
        json.dumps({"version": 1, "keys": [{"id": "wrong", "key": Kek.generate().to_base64()}]}),
    ],
)
def test_malformed_keyrings_fail_without_echoing_keys(text: str) -> None:
    with pytest.raises(KeyringError) as info:
        loads(text, "KEYFILE")
    assert "KEYFILE" in str(info.value)
    for token in text.split('"'):
        if len(token) >= 40:  # a base64 key
            assert token not in str(info.value)


def test_dumps_loads_round_trip() -> None:
    ring = Keyring(Kek.generate()).rotated(Kek.generate())
    assert loads(dumps(ring), "x") == ring


def test_sources_precedence(tmp_path: Path) -> None:
    kek = Kek.generate()
    env = {"OGGY_KEK": kek.to_base64()}
    from_env = keyring_source(tmp_path, environ=env)
    assert isinstance(from_env, EnvKeyring) and not from_env.writable
    assert from_env.load() == Keyring(kek)
    assert kek.to_base64() not in repr(from_env)
    with pytest.raises(KeyringError):
        from_env.save(Keyring(kek))
    flag = keyring_source(tmp_path, kek_file=tmp_path / "ring.json", environ=env)
    assert isinstance(flag, FileKeyring) and flag.path == tmp_path / "ring.json"
    default = keyring_source(tmp_path, environ={})
    assert isinstance(default, FileKeyring) and default.path == tmp_path / "kek"
