"""KEK start-up check (canary + stored secrets) and rotation, on the in-memory Store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from controlplane.api.kek_rotation import KekRotator
from controlplane.domain.errors import FailedPrecondition
from controlplane.kek_check import CANARY_PLAINTEXT, KekMismatch, canary_key, verify_kek
from controlplane.keyring import EnvKeyring, FileKeyring
from controlplane.secrets import EnvelopeCipher, Kek, Keyring, blob_kek_id
from controlplane.store.base import RevisionConflict
from controlplane.store.memory import InMemoryStore

PREFIX = "/t/"
SECRETS = {f"workspaces/w/providers/p{i}": f"sk-secret-{i}".encode() for i in range(5)}


def secret_key(name: str) -> str:
    return f"{PREFIX}secrets/{name}"


async def seeded(cipher: EnvelopeCipher) -> InMemoryStore:
    store = InMemoryStore()
    for name, value in SECRETS.items():
        await store.create(secret_key(name), cipher.encrypt(value))
    return store


async def no_sleep(_: float) -> None:
    return None


def rotator(store, cipher, source, **kw) -> KekRotator:
    return KekRotator(store, cipher, source, prefix=PREFIX, sleep=no_sleep, **kw)


# --- start-up check -----------------------------------------------------------------


async def test_first_start_writes_a_canary_and_later_starts_check_it() -> None:
    cipher = EnvelopeCipher(Kek.generate())
    store = await seeded(cipher)
    await verify_kek(store, cipher, PREFIX)
    canary = await store.get(canary_key(PREFIX))
    assert canary is not None and cipher.decrypt(canary.value) == CANARY_PLAINTEXT
    await verify_kek(store, cipher, PREFIX)  # same KEK: fine
    assert (await store.get(canary_key(PREFIX))).mod_revision == canary.mod_revision


async def test_wrong_kek_fails_at_start_naming_the_expected_kek_id() -> None:
    right, wrong = Kek.generate(), Kek.generate()
    store = InMemoryStore()
    await verify_kek(store, EnvelopeCipher(right), PREFIX)
    with pytest.raises(KekMismatch) as info:
        await verify_kek(store, EnvelopeCipher(wrong), PREFIX)
    message = str(info.value)
    assert right.kek_id in message and wrong.kek_id in message
    for kek in (right, wrong):
        assert kek.to_base64() not in message and kek.key.hex() not in message


async def test_a_secret_under_an_unknown_kek_fails_at_start() -> None:
    kek, other = Kek.generate(), Kek.generate()
    cipher = EnvelopeCipher(kek)
    store = await seeded(cipher)
    await verify_kek(store, cipher, PREFIX)
    await store.put(secret_key("workspaces/w/providers/stray"), EnvelopeCipher(other).encrypt(b"x"))
    with pytest.raises(KekMismatch, match=f"{other.kek_id} \\(1 secret\\)"):
        await verify_kek(store, cipher, PREFIX)
    # With the other KEK in the keyring (as during a rotation) the start succeeds.
    await verify_kek(store, EnvelopeCipher(Keyring(kek, (other,))), PREFIX)


async def test_tampered_canary_fails_at_start() -> None:
    cipher = EnvelopeCipher(Kek.generate())
    store = InMemoryStore()
    await verify_kek(store, cipher, PREFIX)
    blob = bytearray((await store.get(canary_key(PREFIX))).value)
    blob[-1] ^= 1
    await store.put(canary_key(PREFIX), bytes(blob))
    with pytest.raises(KekMismatch, match="canary"):
        await verify_kek(store, cipher, PREFIX)


# --- rotation -----------------------------------------------------------------------


async def test_rotation_rewraps_everything_and_drops_the_old_kek(tmp_path: Path, caplog) -> None:
    source = FileKeyring(tmp_path / "kek")
    old_ring = source.load()
    cipher = EnvelopeCipher(old_ring)
    store = await seeded(cipher)
    await verify_kek(store, cipher, PREFIX)
    before = {i.key: i.value for i in (await store.list_prefix(f"{PREFIX}secrets/"))[0]}

    with caplog.at_level(logging.DEBUG):
        result = await rotator(store, cipher, source).rotate()

    assert result.rewrapped == len(SECRETS)
    assert result.kek_id == cipher.kek_id != old_ring.primary.kek_id
    assert result.dropped == (old_ring.primary.kek_id,)
    assert source.load().ids == (result.kek_id,)  # persisted, old one gone
    assert cipher.keyring.ids == (result.kek_id,)
    new_only = EnvelopeCipher(source.load())
    for name, value in SECRETS.items():
        item = await store.get(secret_key(name))
        assert blob_kek_id(item.value) == result.kek_id
        assert new_only.decrypt(item.value) == value
        assert item.value != before[item.key]
    await verify_kek(store, new_only, PREFIX)  # a restart with the new keyring works
    with pytest.raises(KekMismatch):
        await verify_kek(store, EnvelopeCipher(old_ring), PREFIX)
    for kek in (old_ring.primary, cipher.keyring.primary):
        assert kek.to_base64() not in caplog.text


async def test_new_secrets_during_rotation_use_the_new_kek(tmp_path: Path) -> None:
    source = FileKeyring(tmp_path / "kek")
    cipher = EnvelopeCipher(source.load())
    store = await seeded(cipher)
    seen: list[str] = []

    async def create_during_settle(_: float) -> None:
        # A provider created mid-rotation: encrypted under whatever is primary now.
        seen.append(cipher.kek_id)
        await store.create(secret_key("workspaces/w/providers/new"), cipher.encrypt(b"n"))

    result = await KekRotator(
        store, cipher, source, prefix=PREFIX, sleep=create_during_settle
    ).rotate()
    assert seen == [result.kek_id]
    item = await store.get(secret_key("workspaces/w/providers/new"))
    assert EnvelopeCipher(source.load()).decrypt(item.value) == b"n"


async def test_a_write_under_the_old_kek_that_lands_late_is_rewrapped(tmp_path: Path) -> None:
    source = FileKeyring(tmp_path / "kek")
    old = source.load()
    cipher = EnvelopeCipher(old)
    store = await seeded(cipher)
    in_flight = cipher.encrypt(b"late")  # encrypted before the switch...

    async def lands_during_settle(_: float) -> None:
        await store.create(secret_key("workspaces/w/providers/late"), in_flight)  # ...lands after

    result = await KekRotator(
        store, cipher, source, prefix=PREFIX, sleep=lands_during_settle
    ).rotate()
    assert result.rewrapped == len(SECRETS) + 1
    assert old.primary.kek_id in result.dropped
    item = await store.get(secret_key("workspaces/w/providers/late"))
    assert EnvelopeCipher(source.load()).decrypt(item.value) == b"late"


class ConflictOnce(InMemoryStore):
    """A concurrent writer changes the first secret between our read and our CAS."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts = 0

    async def update(self, key: str, value: bytes, expected_revision: int) -> int:
        if self.conflicts == 0 and "/secrets/" in key:
            self.conflicts += 1
            current = await self.get(key)
            await self.put(key, current.value)  # same blob, new revision
            raise RevisionConflict(key)
        return await super().update(key, value, expected_revision)


async def test_rewrap_retries_on_a_cas_conflict(tmp_path: Path) -> None:
    source = FileKeyring(tmp_path / "kek")
    cipher = EnvelopeCipher(source.load())
    store = ConflictOnce()
    for name, value in SECRETS.items():
        await store.create(secret_key(name), cipher.encrypt(value))
    result = await rotator(store, cipher, source).rotate()
    assert store.conflicts == 1
    assert result.rewrapped == len(SECRETS)
    for name, value in SECRETS.items():
        assert cipher.decrypt((await store.get(secret_key(name))).value) == value
        assert blob_kek_id((await store.get(secret_key(name))).value) == result.kek_id


async def test_one_rotation_at_a_time(tmp_path: Path) -> None:
    source = FileKeyring(tmp_path / "kek")
    cipher = EnvelopeCipher(source.load())
    store = await seeded(cipher)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def held(_: float) -> None:
        entered.set()
        await release.wait()

    rot = KekRotator(store, cipher, source, prefix=PREFIX, sleep=held)
    first = asyncio.create_task(rot.rotate())
    await entered.wait()
    with pytest.raises(FailedPrecondition, match="already running"):
        await rot.rotate()
    release.set()
    result = await first
    assert result.rewrapped == len(SECRETS)
    second = await KekRotator(store, cipher, source, prefix=PREFIX, sleep=no_sleep).rotate()
    assert second.kek_id != result.kek_id and second.rewrapped == len(SECRETS)


async def test_env_kek_cannot_be_rotated() -> None:
    kek = Kek.generate()
    cipher = EnvelopeCipher(kek)
    store = await seeded(cipher)
    with pytest.raises(FailedPrecondition, match="OGGY_KEK"):
        await rotator(store, cipher, EnvKeyring(kek.to_base64())).rotate()
    assert cipher.kek_id == kek.kek_id


async def test_crash_after_saving_the_keyring_leaves_everything_readable(tmp_path: Path) -> None:
    source = FileKeyring(tmp_path / "kek")
    cipher = EnvelopeCipher(source.load())
    store = await seeded(cipher)
    await verify_kek(store, cipher, PREFIX)

    async def crash(_: float) -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        await KekRotator(store, cipher, source, prefix=PREFIX, sleep=crash).rotate()
    restarted = EnvelopeCipher(source.load())
    assert len(restarted.keyring.ids) == 2
    await verify_kek(store, restarted, PREFIX)
    for name, value in SECRETS.items():
        assert restarted.decrypt((await store.get(secret_key(name))).value) == value
    # A later rotation finishes the job and drops both older KEKs.
    result = await rotator(store, restarted, source).rotate()
    assert source.load().ids == (result.kek_id,)
