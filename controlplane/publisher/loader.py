"""Stored items → the resources a snapshot carries, secrets decrypted.

The publisher loads what it publishes with this, and the admin API loads the
candidate config it compiles before a write: one way to turn the store into
snapshot resources, so what a write is checked against is what data planes get.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from google.protobuf.message import Message

from controlplane.publisher.decode import (
    UndecodableResource,
    decode_resource,
    provider_material,
    signing_key_material,
    strip_prefix,
)
from controlplane.store.base import Item
from oggy.v1 import provider_pb2, signing_key_pb2

log = logging.getLogger(__name__)

# Reads one store key (the store's `get`, or a view with uncommitted writes on top).
Read = Callable[[str], Awaitable[Item | None]]


class SecretCipher(Protocol):
    """What loading needs of controlplane.secrets.EnvelopeCipher."""

    def decrypt(self, blob: bytes) -> bytes: ...


class ResourceLoader:
    def __init__(self, cipher: SecretCipher, prefix: str) -> None:
        self._cipher = cipher
        self._prefix = prefix
        self._secrets_prefix = f"{prefix}secrets/"

    async def load(self, key: str, value: bytes, mod_revision: int, read: Read) -> Message | None:
        """The snapshot resource stored at `key`; None when the snapshot does not carry it
        (not a resource, undecodable, or an HS256 key whose secret is unavailable).
        Secrets are read with `read`."""
        name = strip_prefix(key, self._prefix)
        try:
            resource = decode_resource(name, value, mod_revision)
        except UndecodableResource as exc:
            log.warning("skipping undecodable config value: %s", exc)
            return None
        if isinstance(resource, provider_pb2.ProviderCredential):
            api_key = await self._secret(name, "provider", read)
            return provider_material(resource, api_key.decode() if api_key else "")
        if isinstance(resource, signing_key_pb2.SigningKey):
            if resource.algorithm != signing_key_pb2.SigningKey.ALGORITHM_HS256:
                return signing_key_material(resource, b"")
            secret = await self._secret(name, "signing key", read)
            if not secret:
                # Fail closed: an HS256 key without its secret must not reach a data plane.
                log.warning("leaving signing key %s out: its secret is unavailable", name)
                return None
            return signing_key_material(resource, secret)
        return resource

    async def _secret(self, name: str, what: str, read: Read) -> bytes | None:
        """The decrypted secret of `name`, or None (logged) when missing or undecryptable."""
        item = await read(self._secrets_prefix + name)
        if item is None:
            log.warning("%s %s has no stored secret", what, name)
            return None
        try:
            return self._cipher.decrypt(item.value)
        except Exception as exc:
            # Only the exception type: a message could echo key material.
            log.error("cannot decrypt the secret of %s %s (%s)", what, name, type(exc).__name__)
            return None
