"""Where the KEK keyring comes from, and how it is saved after a rotation.

Sources, first match wins:
    --kek-file FILE          a keyring file (created 0600 on first start)
    OGGY_KEK                 one base64 KEK (32 bytes); read-only: cannot be rotated
    <state-dir>/kek          a keyring file (created 0600 on first start)

A keyring file is a small JSON document, replaced atomically (temp + fsync + rename):
    {"version": 1, "primary": "<kek id>", "keys": [{"id": "<kek id>", "key": "<base64>"}, ...]}
with the primary first. A file holding a single base64 KEK (the original format) is
read as a one-key keyring and upgraded on the first rotation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from controlplane.secrets import KEK_ENV, KEK_FILE, Kek, Keyring
from controlplane.statefiles import ensure_private_file, write_private_file

FORMAT_VERSION = 1


class KeyringError(ValueError):
    """The keyring cannot be read or is malformed; the message never holds key material."""


class KeyringSource(Protocol):
    @property
    def writable(self) -> bool: ...

    @property
    def description(self) -> str:
        """Where the keyring lives (a path or an env var name), for messages."""
        ...

    def load(self) -> Keyring: ...

    def save(self, keyring: Keyring) -> None: ...


def dumps(keyring: Keyring) -> str:
    keys = [{"id": k.kek_id, "key": k.to_base64()} for k in (keyring.primary, *keyring.previous)]
    doc = {"version": FORMAT_VERSION, "primary": keyring.primary.kek_id, "keys": keys}
    return json.dumps(doc, indent=2) + "\n"


def loads(text: str, where: str) -> Keyring:
    text = text.strip()
    if not text.startswith("{"):
        try:
            return Keyring(Kek.from_base64(text))
        except ValueError as exc:
            raise KeyringError(f"{where}: {exc}") from None
    try:
        doc = json.loads(text)
        return _from_doc(doc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # json errors name a position, ours name a field: never key bytes.
        raise KeyringError(f"{where}: malformed keyring ({type(exc).__name__}: {exc})") from None


def _from_doc(doc: Any) -> Keyring:
    if doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"unsupported keyring version {doc.get('version')!r}")
    keks = []
    for entry in doc["keys"]:
        kek = Kek.from_base64(entry["key"])
        if entry.get("id") and entry["id"] != kek.kek_id:
            raise ValueError(f"key listed as {entry['id']} has id {kek.kek_id}")
        keks.append(kek)
    if not keks:
        raise ValueError("no keys")
    by_id = {k.kek_id: k for k in keks}
    primary = by_id.get(doc.get("primary") or keks[0].kek_id)
    if primary is None:
        raise ValueError(f"primary {doc['primary']} is not among the keys")
    return Keyring(primary, tuple(k for k in keks if k is not primary))


class FileKeyring:
    """A keyring file, created with one fresh KEK on first use."""

    writable = True

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def description(self) -> str:
        return str(self.path)

    def load(self) -> Keyring:
        try:
            text = ensure_private_file(self.path, lambda: dumps(Keyring(Kek.generate())).strip())
        except OSError as exc:
            raise KeyringError(f"cannot read {self.path}: {exc.strerror}") from None
        except ValueError as exc:  # empty file
            raise KeyringError(str(exc)) from None
        return loads(text, str(self.path))

    def save(self, keyring: Keyring) -> None:
        write_private_file(self.path, dumps(keyring))

    def __repr__(self) -> str:
        return f"FileKeyring({str(self.path)!r})"


class EnvKeyring:
    """One KEK from the environment: usable, but a rotation has nowhere to save to."""

    writable = False
    description = KEK_ENV

    def __init__(self, value: str) -> None:
        self._value = value

    def load(self) -> Keyring:
        return loads(self._value, KEK_ENV)

    def save(self, keyring: Keyring) -> None:
        raise KeyringError(f"the KEK comes from {KEK_ENV}; a rotated keyring cannot be saved")

    def __repr__(self) -> str:
        return "EnvKeyring(***)"


def keyring_source(
    state_dir: Path,
    *,
    kek_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeyringSource:
    env = os.environ if environ is None else environ
    if kek_file is not None:
        return FileKeyring(kek_file)
    if env.get(KEK_ENV):
        return EnvKeyring(env[KEK_ENV])
    return FileKeyring(state_dir / KEK_FILE)
