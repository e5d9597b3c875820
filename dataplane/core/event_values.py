"""Outside values made fit for a UsageEvent's fields. Pure.

A protobuf setter raises on an integer outside its field's range (int32,
int64) and on a string that is not valid UTF-8 (aiohttp decodes header bytes
with `surrogateescape`, so a header can hold lone surrogates). An event is
never dropped because of what a client, a provider or a header said:
settlement puts every value from outside through here, and what had to be
changed is named in the event's `anomalies`.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from oggy.v1 import usage_pb2

# Anomaly kinds (UsageEvent.anomalies) of the values themselves; the usage ones
# are in usage_extract.
VALUE_OUT_OF_RANGE = "value_out_of_range"
INVALID_TEXT = "invalid_text"
PARTIAL = "partial"  # a part of the event could not be built and is missing

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_RANGE_BY_TYPE = {
    FieldDescriptor.TYPE_INT32: _INT32,
    FieldDescriptor.TYPE_SINT32: _INT32,
    FieldDescriptor.TYPE_SFIXED32: _INT32,
    FieldDescriptor.TYPE_INT64: _INT64,
    FieldDescriptor.TYPE_SINT64: _INT64,
    FieldDescriptor.TYPE_SFIXED64: _INT64,
}


def _int_ranges(desc: Descriptor) -> dict[str, tuple[int, int]]:
    return {f.name: _RANGE_BY_TYPE[f.type] for f in desc.fields if f.type in _RANGE_BY_TYPE}


# Read from the generated descriptors once: the ranges follow the proto.
_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    d.full_name: _int_ranges(d)
    for d in (usage_pb2.UsageEvent.DESCRIPTOR, usage_pb2.PromptMetadata.DESCRIPTOR)
}


def fit_int(value: Any, lo: int, hi: int, anomalies: set[str]) -> int:
    if type(value) is int and lo <= value <= hi:
        return value
    anomalies.add(VALUE_OUT_OF_RANGE)
    if type(value) is float and math.isfinite(value):
        value = int(value)
    if type(value) is not int:
        return 0
    return min(max(value, lo), hi)


def put_int(msg: Message, name: str, value: Any, anomalies: set[str]) -> None:
    """`msg.name = value`, clamped into the field's range (flagged when it had to be)."""
    lo, hi = _RANGES[msg.DESCRIPTOR.full_name][name]
    setattr(msg, name, fit_int(value, lo, hi, anomalies))


def fit_text(value: Any, anomalies: set[str]) -> str:
    """`value` as a string a proto accepts: invalid UTF-8 replaced (flagged)."""
    if type(value) is str:
        if value.isascii():
            return value
        try:
            value.encode()
            return value
        except UnicodeEncodeError:
            anomalies.add(INVALID_TEXT)
            return value.encode("utf-8", "replace").decode()
    anomalies.add(INVALID_TEXT)
    return "" if value is None else fit_text(str(value), anomalies)
