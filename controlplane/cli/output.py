"""Rendering results as aligned text tables or JSON (proto field names), to stdout.

JSON uses protobuf's canonical mapping (`MessageToDict`, proto field names, fields at
their default value included) so scripts see every field on every row; lists print as
one JSON array so `jq '.[]'` works on any `list` command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

FORMATS = ("table", "json")

Column = tuple[str, Callable[[Any], object]]


def to_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def write_json(data: object, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    json.dump(data, out, indent=2, sort_keys=False)
    out.write("\n")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [
        bool(rows) and all(isinstance(row[i], int | float) for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if numeric[i] else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line([h.upper() for h in headers]), *(line(r) for r in cells)])


def emit(
    fmt: str,
    items: Sequence[Message],
    columns: Sequence[Column],
    out: TextIO | None = None,
) -> None:
    """Print a list of messages: a table, or a JSON array."""
    out = out or sys.stdout
    if fmt == "json":
        write_json([to_dict(m) for m in items], out)
        return
    out.write(render_table([c[0] for c in columns], [[f(m) for _, f in columns] for m in items]))
    out.write("\n")


def emit_one(
    fmt: str,
    item: Message,
    columns: Sequence[Column],
    out: TextIO | None = None,
) -> None:
    """Print one message: `field: value` lines, or a JSON object."""
    out = out or sys.stdout
    if fmt == "json":
        write_json(to_dict(item), out)
        return
    width = max(len(name) for name, _ in columns)
    for name, get in columns:
        out.write(f"{(name + ':').ljust(width + 1)}  {_cell(get(item))}\n")


def fmt_time(ts: Timestamp) -> str:
    """A Timestamp as `2025-01-31T12:00:00Z`; empty when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return ""
    moment = datetime.fromtimestamp(ts.seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
