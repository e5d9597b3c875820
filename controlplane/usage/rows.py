"""Pure mapping between UsageEvent protos and table rows (usage_events, prompt_logs).

Every UsageEvent field has a column except `prompt_text`, which goes to
`prompt_logs` (it is never part of a usage row). Unset optional fields are
NULL; `prompt` is unset exactly when `message_count` is NULL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

from oggy.v1 import admin_service_pb2, usage_pb2

# Scalar columns named after their UsageEvent field, in table order (start_us is
# start_time as integer unix microseconds).
_SCALARS: tuple[str, ...] = (
    "event_id",
    "workspace",
    "key",
    "actor",
    "provider",
    "model",
    "endpoint",
    "stream",
    "http_status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "token_source",
    "start_us",
    "latency_ms",
    "time_to_first_token_ms",
    "dataplane_id",
    "client_ip",
    "request_id",
    "upstream_request_id",
    "cache_creation_tokens",
    "cost_micro_usd",
    "price_catalog_version",
    "team",
    "app",
    "environment",
    "workflow",
    "policy_reason",
    "shadow_reason",
    "requested_model",
)
_OPTIONAL = ("cached_tokens", "reasoning_tokens", "cache_creation_tokens", "cost_micro_usd")
_JSON = ("labels", "attempts", "anomalies")
# UpstreamAttempt has scalar fields only; each becomes a key of its JSON object.
_ATTEMPT_FIELDS = tuple(f.name for f in usage_pb2.UpstreamAttempt.DESCRIPTOR.fields)
# PromptMetadata fields, each a column of the same name.
PROMPT_COLUMNS: tuple[str, ...] = (
    "message_count",
    "context_tokens",
    "requested_max_tokens",
    "tool_count",
    "request_bytes",
    "response_bytes",
    "finish_reason",
)
COLUMNS: tuple[str, ...] = (*_SCALARS, *_JSON, *PROMPT_COLUMNS)

PROMPT_LOG_COLUMNS: tuple[str, ...] = (
    "event_id",
    "workspace",
    "key",
    "actor",
    "model",
    "time_us",
    "request_text",
    "response_text",
    "redactions",
    "expire_us",
)


def timestamp_to_us(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def us_to_timestamp(us: int) -> Timestamp:
    seconds, micros = divmod(us, 1_000_000)  # floor division keeps nanos >= 0
    return Timestamp(seconds=seconds, nanos=micros * 1000)


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def event_to_row(event: usage_pb2.UsageEvent) -> tuple[Any, ...]:
    values: dict[str, Any] = {f: getattr(event, f) for f in _SCALARS if f != "start_us"}
    values["stream"] = int(event.stream)
    values["start_us"] = timestamp_to_us(event.start_time)
    for f in _OPTIONAL:
        values[f] = getattr(event, f) if event.HasField(f) else None
    values["labels"] = _json(dict(event.labels))
    values["attempts"] = _json(
        [{f: getattr(a, f) for f in _ATTEMPT_FIELDS} for a in event.attempts]
    )
    values["anomalies"] = _json(list(event.anomalies))
    has_prompt = event.HasField("prompt")
    for f in PROMPT_COLUMNS:
        values[f] = getattr(event.prompt, f) if has_prompt else None
    return tuple(values[c] for c in COLUMNS)


def row_to_event(row: Sequence[Any]) -> usage_pb2.UsageEvent:
    values = dict(zip(COLUMNS, row, strict=True))
    start_us = values.pop("start_us")
    labels = orjson.loads(values.pop("labels"))
    attempts = orjson.loads(values.pop("attempts"))
    values["anomalies"] = orjson.loads(values["anomalies"])
    prompt = {f: values.pop(f) for f in PROMPT_COLUMNS}
    values["stream"] = bool(values["stream"])
    for f in _OPTIONAL:
        if values[f] is None:
            del values[f]
    event = usage_pb2.UsageEvent(**values)
    event.start_time.CopyFrom(us_to_timestamp(start_us))
    event.labels.update(labels)
    event.attempts.extend(usage_pb2.UpstreamAttempt(**a) for a in attempts)
    if prompt["message_count"] is not None:
        event.prompt.SetInParent()
        for f, value in prompt.items():
            if value is not None:
                setattr(event.prompt, f, value)
    return event


def prompt_log_row(event: usage_pb2.UsageEvent) -> tuple[Any, ...] | None:
    """The prompt_logs row for an event that carries prompt text, else None."""
    if not event.HasField("prompt_text"):
        return None
    text = event.prompt_text
    expire_us = timestamp_to_us(text.expire_time) if text.HasField("expire_time") else None
    return (
        event.event_id,
        event.workspace,
        event.key,
        event.actor,
        event.model,
        timestamp_to_us(event.start_time),
        text.request_text,
        text.response_text,
        _json(dict(text.redactions)),
        expire_us,
    )


def row_to_prompt_log(row: Sequence[Any]) -> admin_service_pb2.PromptLog:
    values = dict(zip(PROMPT_LOG_COLUMNS, row, strict=True))
    log = admin_service_pb2.PromptLog(
        event_id=values["event_id"],
        workspace=values["workspace"],
        key=values["key"],
        actor=values["actor"],
        model=values["model"],
        time=us_to_timestamp(values["time_us"]),
        text=usage_pb2.PromptText(
            request_text=values["request_text"],
            response_text=values["response_text"],
            redactions=orjson.loads(values["redactions"]),
        ),
    )
    if values["expire_us"] is not None:
        log.text.expire_time.CopyFrom(us_to_timestamp(values["expire_us"]))
    return log


def strip_nul(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Replace NUL characters (PostgreSQL TEXT cannot store them) with U+FFFD."""
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in row)
