"""List paging: page size bounds and opaque page tokens.

A token encodes the last name returned plus the scope it was issued for, so a
token from one collection cannot be replayed against another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from controlplane.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

T = TypeVar("T")


def page_size(requested: int) -> int:
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_token(scope: str, after: str) -> str:
    raw = json.dumps({"s": scope, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, scope: str) -> str:
    """The name to continue after; "" for the first page."""
    if not token:
        return ""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after, token_scope = data["a"], data["s"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidArgument("invalid page_token") from None
    if token_scope != scope or not isinstance(after, str):
        raise InvalidArgument("page_token was issued for a different request")
    return after


def paginate(
    items: Sequence[T], key: Callable[[T], str], scope: str, size: int, token: str
) -> tuple[list[T], str]:
    """One page of `items` (sorted by `key`) after the token's position, and the next token."""
    after = decode_token(token, scope)
    remaining = [item for item in items if key(item) > after]
    page = remaining[:size]
    next_token = encode_token(scope, key(page[-1])) if len(remaining) > size else ""
    return page, next_token
