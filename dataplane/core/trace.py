"""Request ids and W3C trace context from the client: kept when well-formed, else not. Pure.

- `X-Request-Id`: a client's id that is short and plain (1-128 of
  `[A-Za-z0-9._:-]`) is kept as the request's id (echoed back, recorded in the
  usage event), so its logs and ours join; anything else is replaced by the
  gateway's own id. The usage event's `event_id` is always the gateway's: a
  client may reuse its ids, the store must not see duplicates.
- `traceparent` (and `tracestate`, only with a valid `traceparent`) go upstream
  when they follow https://www.w3.org/TR/trace-context/ — `version-traceid-
  parentid-flags`, lowercase hex, ids not all zeros, version `ff` invalid, a
  future version read by its version-00 prefix; a malformed one is dropped, so
  a provider never sees a header we would not vouch for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

REQUEST_ID_HEADER = "X-Request-Id"
TRACEPARENT_HEADER = "traceparent"
TRACESTATE_HEADER = "tracestate"
MAX_REQUEST_ID = 128
MAX_TRACESTATE = 512

_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_REQUEST_ID}}}")
# version 00: exactly this; a later version: this prefix, then the end or `-...`.
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[\x21-\x7e]{0,200})?"
)
_ZERO_TRACE_ID = "0" * 32
_ZERO_PARENT_ID = "0" * 16
# One list member: `key=value`, key `tenant@system` or simple, value printable ASCII
# without `,` and `=`, not ending in a space (W3C trace-context §3.3.1).
_KEY = r"(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})"
_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
_MEMBER = re.compile(rf"[ \t]*{_KEY}={_VALUE}[ \t]*")
MAX_TRACESTATE_MEMBERS = 32

TraceHeaders = tuple[tuple[str, str], ...]
NO_TRACE: TraceHeaders = ()


def client_request_id(value: str | None) -> str | None:
    """The client's `X-Request-Id` when it is safe to keep and echo, else None."""
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return None


def valid_traceparent(value: str) -> bool:
    m = _TRACEPARENT.fullmatch(value)
    if m is None:
        return False
    version, trace_id, parent_id, rest = m.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return False
    return trace_id != _ZERO_TRACE_ID and parent_id != _ZERO_PARENT_ID


def valid_tracestate(value: str) -> bool:
    if len(value) > MAX_TRACESTATE:
        return False
    members = [m for m in value.split(",") if m.strip(" \t")]
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return False
    return all(_MEMBER.fullmatch(m) for m in members)


def trace_context(headers: Mapping[str, str]) -> TraceHeaders:
    """The client's trace headers to send upstream (none unless `traceparent` is valid)."""
    traceparent = headers.get(TRACEPARENT_HEADER)
    if not traceparent or not valid_traceparent(traceparent):
        return NO_TRACE
    tracestate = headers.get(TRACESTATE_HEADER)
    if tracestate and valid_tracestate(tracestate):
        return ((TRACEPARENT_HEADER, traceparent), (TRACESTATE_HEADER, tracestate))
    return ((TRACEPARENT_HEADER, traceparent),)
