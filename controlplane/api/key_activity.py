"""A gateway key's last-used time and use count, read from usage when a key is shown.

Nothing is written per request: the usage store already holds every request, so Get
and List on keys ask it once per page (`key_activity(names)`) and merge the answer
into the output-only fields `last_used_time` and `use_count`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from oggy.v1 import key_pb2

log = logging.getLogger(__name__)


class KeyActivitySource(Protocol):
    async def key_activity(self, key_names: Sequence[str]) -> Mapping[str, tuple[int, int]]:
        """Key name → (last request start, unix µs; request count), for keys with usage."""
        ...


class NoKeyActivity:
    """The default: no usage store, so no activity (the fields stay unset)."""

    async def key_activity(self, key_names: Sequence[str]) -> Mapping[str, tuple[int, int]]:
        return {}


def activity_source(usage_store: object | None) -> KeyActivitySource:
    """The usage store itself when it can answer `key_activity`, else NoKeyActivity."""
    if usage_store is not None and callable(getattr(usage_store, "key_activity", None)):
        return usage_store  # type: ignore[return-value]
    return NoKeyActivity()


async def merge_activity(
    source: KeyActivitySource, gateway_keys: Sequence[key_pb2.GatewayKey]
) -> None:
    """Fill `last_used_time` and `use_count` in place; usage being down leaves them unset.

    Showing a key must not fail because the usage store is slow or down.
    """
    if not gateway_keys:
        return
    try:
        activity = await source.key_activity([k.name for k in gateway_keys])
    except Exception as exc:
        log.warning("key activity unavailable (%s); keys shown without it", type(exc).__name__)
        return
    for key in gateway_keys:
        found = activity.get(key.name)
        if found is None:
            continue
        last_used_us, count = found
        key.last_used_time.CopyFrom(_timestamp(last_used_us))
        key.use_count = count


def _timestamp(unix_us: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMicroseconds(unix_us)
    return ts
