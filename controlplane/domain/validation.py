"""Field checks for resources on the way in. Pure; raises InvalidArgument."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from controlplane.domain import urls
from controlplane.domain.errors import InvalidArgument

MAX_DISPLAY_NAME = 200
MAX_API_KEY = 4096
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# A model glob: printable, no whitespace; `*`, `?` and `[...]` act as in fnmatch.
_MODEL_GLOB = re.compile(r"[\x21-\x7e]{1,200}")


def display_name(value: str) -> str:
    return short_text(value, "display_name")


def short_text(value: str, field: str, max_len: int = MAX_DISPLAY_NAME) -> str:
    """One line of human text (a display name, a description, a label)."""
    if len(value) > max_len:
        raise InvalidArgument(f"{field} longer than {max_len} characters")
    if any(ord(c) < 0x20 for c in value):
        raise InvalidArgument(f"{field} must not contain control characters")
    return value


def request_id(value: str) -> str:
    if value and not _REQUEST_ID.fullmatch(value):
        raise InvalidArgument("request_id must be 1-128 characters [A-Za-z0-9._-]")
    return value


def etag(value: str) -> int:
    """The revision an etag stands for; 0 when no etag was given."""
    if not value:
        return 0
    if not value.isdigit() or int(value) <= 0:
        raise InvalidArgument(f"malformed etag {value!r}")
    return int(value)


def base_url(value: str, allow_private_network: bool = True) -> str:
    """Syntax and address checks of a provider base URL (see controlplane.domain.urls)."""
    return urls.validate_base_url(value, allow_private_network)


def model_globs(values: Iterable[str], field: str, required: bool = False) -> list[str]:
    out = list(values)
    if required and not out:
        raise InvalidArgument(f"{field} must name at least one model")
    for v in out:
        if not _MODEL_GLOB.fullmatch(v):
            raise InvalidArgument(f"{field} has an invalid model pattern {v!r}")
    return out


def api_key(value: str) -> str:
    # Never echo the value: it is a secret even when it is malformed.
    if not value:
        raise InvalidArgument("api_key is required")
    if len(value) > MAX_API_KEY:
        raise InvalidArgument("api_key is too long")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidArgument("api_key must not contain whitespace or control characters")
    return value


def cidrs(values: Iterable[str], field: str) -> list[str]:
    out = list(values)
    for v in out:
        try:
            ipaddress.ip_network(v, strict=False)
        except ValueError:
            raise InvalidArgument(f"{field} has an invalid CIDR {v!r}") from None
    return out


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidArgument(f"{field} must not be negative")
    return value
