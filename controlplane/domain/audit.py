"""Audit log ids, principals and newest-first paging. Pure.

An audit event is stored at `<prefix>audit/{id}` with a time-ordered id (UUIDv7
as 32 hex digits), so key order is time order and a list reads newest first by
walking the keys backwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

from controlplane.domain import paging
from controlplane.domain.errors import InvalidArgument
from oggy.contract.ids import Uuid7

AUDIT_EVENTS = "auditEvents"
ADMIN_PRINCIPAL = "admin-token"
UNKNOWN_PRINCIPAL = "unknown"
_FINGERPRINT_HEX = 12

T = TypeVar("T")


def token_principal(token: bytes, role: str = ADMIN_PRINCIPAL) -> str:
    """`admin-token:<12 hex of SHA-256>`: tells tokens apart without revealing them."""
    return f"{role}:{hashlib.sha256(token).hexdigest()[:_FINGERPRINT_HEX]}"


class AuditIds:
    """Sortable ids: UUIDv7 without dashes (ms time, then a per-ms counter)."""

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        self._uuid7 = Uuid7(now_ms) if now_ms is not None else Uuid7()

    def __call__(self) -> str:
        return self._uuid7().replace("-", "")


def event_name(event_id: str) -> str:
    return f"{AUDIT_EVENTS}/{event_id}"


def paginate_newest_first(
    items: Sequence[T], key: Callable[[T], str], scope: str, size: int, token: str
) -> tuple[list[T], str]:
    """One page of `items` (sorted ascending by `key`) read backwards from the token."""
    before = paging.decode_token(token, scope)
    if token and not before:
        raise InvalidArgument("invalid page_token")
    remaining = [i for i in reversed(items) if not before or key(i) < before]
    page = remaining[:size]
    next_token = paging.encode_token(scope, key(page[-1])) if len(remaining) > size else ""
    return page, next_token
