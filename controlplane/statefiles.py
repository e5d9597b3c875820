"""Secret files in the state dir (kek, admin_token, node_token): mode 0600.

Token files are created once; the KEK keyring is also replaced atomically on rotation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from oggy.contract.files import write_private_atomic

log = logging.getLogger(__name__)


def ensure_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def ensure_private_file(path: Path, generate: Callable[[], str]) -> str:
    """The file's stripped content; on first use, write `generate()` to it with mode 0600.

    O_EXCL makes two processes racing on first start agree on one value.
    """
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s is readable by group/others (mode %o); chmod 600 it", path, mode)
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"{path} is empty") from None
        return text
    value = generate()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return value


def new_token() -> str:
    return secrets.token_urlsafe(32)


def load_token(path: Path, env_value: str | None) -> str:
    """An env override wins; otherwise the state file (created on first start)."""
    if env_value:
        return env_value
    return ensure_private_file(path, new_token)


def write_private_file(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, mode 0600 (see oggy.contract.files)."""
    ensure_private_dir(path.parent)
    write_private_atomic(path, text.encode("utf-8"))
