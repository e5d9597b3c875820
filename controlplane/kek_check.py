"""Start-up check that the loaded KEK can read what is stored: fail loudly, at start.

A canary (`<prefix>kek-canary`, a known plaintext envelope-encrypted like any
secret) is written on first start and decrypted on every start after; then every
blob under `<prefix>secrets/` must name a KEK in the keyring. Otherwise the control
plane would start and publish providers without their keys. Messages name KEK ids,
never keys.
"""

from __future__ import annotations

from collections import defaultdict

from controlplane.domain.layout import Layout
from controlplane.secrets import EnvelopeCipher, SecretError, UnknownKek, blob_kek_id
from controlplane.store.base import RevisionConflict, Store

CANARY_PLAINTEXT = b"oggy kek canary v1"
_HINT = "start the control plane with that KEK (--kek-file, OGGY_KEK or STATE_DIR/kek)"


class KekMismatch(SecretError):
    """The stored data was written with a KEK the control plane does not have."""


def canary_key(prefix: str) -> str:
    return f"{prefix}kek-canary"


def secrets_prefix(prefix: str) -> str:
    return Layout(prefix).secret("")


async def write_canary(store: Store, cipher: EnvelopeCipher, prefix: str) -> None:
    """Replace the canary with one under the current primary KEK."""
    await store.put(canary_key(prefix), cipher.encrypt(CANARY_PLAINTEXT))


async def verify_kek(store: Store, cipher: EnvelopeCipher, prefix: str) -> None:
    """Raise KekMismatch unless the keyring reads the canary and names every secret's KEK."""
    await _check_canary(store, cipher, prefix)
    items, _ = await store.list_prefix(secrets_prefix(prefix))
    known = set(cipher.keyring.ids)
    unknown: dict[str, int] = defaultdict(int)
    for item in items:
        try:
            kek_id = blob_kek_id(item.value)
        except SecretError:
            kek_id = "<unreadable>"
        if kek_id not in known:
            unknown[kek_id] += 1
    if unknown:
        listed = ", ".join(f"{k} ({n} secret{'s' * (n != 1)})" for k, n in sorted(unknown.items()))
        raise KekMismatch(
            f"stored provider secrets were encrypted with KEK {listed}, but the loaded "
            f"keyring has {', '.join(cipher.keyring.ids)}: {_HINT}"
        )


async def _check_canary(store: Store, cipher: EnvelopeCipher, prefix: str) -> None:
    key = canary_key(prefix)
    item = await store.get(key)
    if item is None:
        try:
            await store.create(key, cipher.encrypt(CANARY_PLAINTEXT))
            return
        except RevisionConflict:  # another control plane wrote it first: check theirs
            item = await store.get(key)
            if item is None:
                return
    try:
        plaintext = cipher.decrypt(item.value)
    except UnknownKek as exc:
        raise KekMismatch(
            f"the stored data was encrypted with KEK {exc.kek_id}, but the loaded keyring has "
            f"{', '.join(cipher.keyring.ids)}: {_HINT}"
        ) from None
    except SecretError as exc:
        raise KekMismatch(f"the KEK canary {key} does not decrypt: {exc}") from None
    if plaintext != CANARY_PLAINTEXT:
        raise KekMismatch(f"the KEK canary {key} holds unexpected content")
