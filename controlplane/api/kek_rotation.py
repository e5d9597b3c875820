"""AdminService.RotateKeyEncryptionKey: a new KEK, every data key re-wrapped, no downtime.

Steps, one rotation at a time:
1. generate a KEK; save the keyring with it as primary and the old ones kept
   (saved BEFORE anything is wrapped with it, so a crash never strands a secret);
2. switch the running cipher to it: new secrets are encrypted with it from now on;
3. re-wrap every secret under `<prefix>secrets/` (only the wrapped data key changes;
   compare-and-set per secret, re-read and retry on conflict) and rewrite the canary;
4. after `settle_s` (so a write encrypted just before step 2 has landed or failed),
   sweep once more, then drop from the keyring every old KEK no secret still uses.
Data planes never see this: they receive decrypted secrets, and secrets live outside
the watched `workspaces/` tree, so no config is republished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from controlplane.api.status import grpc_errors
from controlplane.domain.errors import FailedPrecondition
from controlplane.kek_check import canary_key, secrets_prefix, write_canary
from controlplane.keyring import KeyringSource
from controlplane.secrets import EnvelopeCipher, Kek, SecretError, blob_kek_id
from controlplane.store.base import Item, RevisionConflict, Store
from oggy.v1 import admin_service_pb2 as pb

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RotationResult:
    kek_id: str
    rewrapped: int
    dropped: tuple[str, ...]


class KekRotator:
    def __init__(
        self,
        store: Store,
        cipher: EnvelopeCipher,
        keyring: KeyringSource,
        *,
        prefix: str = "/oggy/",
        settle_s: float = 1.0,
        generate: Callable[[], Kek] = Kek.generate,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._keyring = keyring
        self._prefix = prefix
        self._settle_s = settle_s
        self._generate = generate
        self._sleep = sleep
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"KekRotator(kek_id={self._cipher.kek_id}, keyring={self._keyring.description})"

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def rotate(self) -> RotationResult:
        if self._lock.locked():
            raise FailedPrecondition("a key-encryption key rotation is already running")
        async with self._lock:
            return await self._rotate()

    async def _rotate(self) -> RotationResult:
        if not self._keyring.writable:
            raise FailedPrecondition(
                f"the KEK comes from {self._keyring.description}, so a new one cannot be "
                "saved; start the control plane with --kek-file or a state-dir keyring to rotate"
            )
        old_ids = self._cipher.keyring.ids
        ring = self._cipher.keyring.rotated(self._generate())
        await asyncio.to_thread(self._keyring.save, ring)
        self._cipher.use(ring)
        new_id = ring.primary.kek_id
        log.info("KEK rotation: %s is the primary KEK now (was %s)", new_id, old_ids[0])

        rewrapped = await self._sweep()
        await write_canary(self._store, self._cipher, self._prefix)
        # A create that encrypted under the old primary just before the switch may
        # still be in flight; give it time to land (or fail), then sweep again.
        await self._sleep(self._settle_s)
        rewrapped += await self._sweep()

        in_use = await self._kek_ids_in_use()
        final = self._cipher.keyring.retaining(in_use)
        dropped = tuple(i for i in self._cipher.keyring.ids if i not in final.ids)
        if dropped:
            await asyncio.to_thread(self._keyring.save, final)
            self._cipher.use(final)
        kept = [i for i in final.ids if i != new_id]
        if kept:
            log.warning("KEK rotation: still keeping %s (a secret could not be re-wrapped)", kept)
        log.info("KEK rotation done: %d data keys re-wrapped under %s", rewrapped, new_id)
        return RotationResult(new_id, rewrapped, dropped)

    async def _sweep(self) -> int:
        items, _ = await self._store.list_prefix(secrets_prefix(self._prefix))
        count = 0
        for item in items:
            if await self._rewrap_one(item):
                count += 1
        return count

    async def _rewrap_one(self, item: Item | None) -> bool:
        """CAS the secret to the primary KEK; True if this call re-wrapped it."""
        while item is not None:
            try:
                if blob_kek_id(item.value) == self._cipher.kek_id:
                    return False
                blob = self._cipher.rewrap(item.value)
            except SecretError as exc:
                # Left as is (and its KEK kept): the name only, never the blob.
                log.error("KEK rotation: cannot re-wrap %s: %s", item.key, exc)
                return False
            try:
                await self._store.update(item.key, blob, item.mod_revision)
                return True
            except RevisionConflict:
                item = await self._store.get(item.key)  # changed meanwhile (or deleted)
            except KeyError:
                return False
        return False

    async def _kek_ids_in_use(self) -> set[str]:
        items, _ = await self._store.list_prefix(secrets_prefix(self._prefix))
        canary = await self._store.get(canary_key(self._prefix))
        used = set()
        for item in (*items, *([canary] if canary else [])):
            try:
                used.add(blob_kek_id(item.value))
            except SecretError:
                continue
        return used


class KekRotationApi:
    """The RPC; AdminServicer delegates `RotateKeyEncryptionKey` here."""

    def __init__(self, rotator: KekRotator | None) -> None:
        self._rotator = rotator

    @grpc_errors
    async def RotateKeyEncryptionKey(
        self, request: pb.RotateKeyEncryptionKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateKeyEncryptionKeyResponse:
        if self._rotator is None:
            raise FailedPrecondition("this control plane has no key-encryption key to rotate")
        result = await self._rotator.rotate()
        return pb.RotateKeyEncryptionKeyResponse(kek_id=result.kek_id, rewrapped=result.rewrapped)
