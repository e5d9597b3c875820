"""Settlement: a finished request's usage, cost and UsageEvent. Pure.

Every endpoint ends here, whatever happened (success, refusal, upstream error,
a client that hung up), so there is one place that says what an event holds:
- usage is the provider's when it sent counts (`token_source = "provider"`);
  otherwise, when the request left something to estimate from (a stream cut
  short, a response without `usage`), a tiktoken estimate (`"estimated"`;
  DESIGN invariant 7) with the tokenizer injected;
- cost is priced from the admitted key's workspace price book, at the serving
  provider's rates in force when the request started; a model without a price
  stays unpriced (never a silent 0);
- who asked comes from the admission verdict: attribution, labels, the policy
  reason of a refusal, what a shadow policy would have refused.

The relays only observe (`response_usage`, `stream_usage`); the HTTP layer
decides where `settle` runs (`settles_in_thread`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataplane.core.admission import Refused, Verdict
from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import Count, estimate_from_text, estimate_usage
from dataplane.core.record import RequestRecord
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import Usage
from dataplane.providers import WireFormat
from oggy.contract.policy import POLICY_REASONS
from oggy.v1 import usage_pb2

# model → its token counter; None when no tokenizer is known for it.
Counter = Callable[[str], Count | None]


def response_usage(
    rec: RequestRecord, req: ChatRequest | None, wire: WireFormat, parsed: object
) -> None:
    """A whole successful response: the provider's usage, else what to estimate from."""
    rec.usage = wire.usage(parsed)
    if rec.usage is None and req is not None:

        def estimate(count: Count) -> Usage:
            return estimate_from_text(
                req.messages,
                wire.response_text(parsed),
                count,
                max_output_tokens=req.max_output_tokens,
            )

        rec.estimate = estimate


def stream_usage(
    rec: RequestRecord, req: ChatRequest | None, wire: WireFormat, tap: StreamTap | None
) -> None:
    """A stream, complete or not: the usage it carried, else the bytes seen to estimate from."""
    if tap is None:
        return
    rec.usage = tap.usage
    if rec.usage is None and req is not None:

        def estimate(count: Count) -> Usage:
            return estimate_usage(
                req.messages,
                tap.kept(),
                tap.total_bytes,
                count,
                text_of=wire.stream_text,
                max_output_tokens=req.max_output_tokens,
            )

        rec.estimate = estimate


def settles_in_thread(rec: RequestRecord) -> bool:
    """Whether `settle` does CPU work to keep off the event loop: tokenising for an
    estimate, or redacting prompt text (FULL prompt logging)."""
    if rec.usage is None and rec.estimate is not None:
        return True
    return rec.prompt is not None and rec.prompt.logs_text


# Fields the event shares, by name, with an Attribution and a Usage; unknown ones
# (None: cached, reasoning, cache-write counts) stay unset, never a silent 0.
_ATTRIBUTION_FIELDS = ("actor", "team", "app", "environment", "workflow")
_USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cache_creation_tokens",
)


def settle(
    rec: RequestRecord, end_mono: float, dataplane_id: str, counter: Counter | None
) -> usage_pb2.UsageEvent:
    """The request's one usage event, `end_mono` being when it ended (perf_counter)."""
    usage, source = _usage(rec, counter)
    first_byte = rec.first_byte
    verdict = rec.verdict
    # One constructor call is the cheapest way to fill a message (empty strings are
    # the proto3 default: passing them costs nothing on the wire).
    ev = usage_pb2.UsageEvent(
        event_id=rec.event_id,
        request_id=rec.request_id,
        dataplane_id=dataplane_id,
        client_ip=rec.peer if verdict is None else verdict.client_ip,
        endpoint=rec.endpoint,
        provider=rec.provider,
        model=rec.model,
        stream=rec.stream,
        http_status=rec.http_status,
        latency_ms=(end_mono - rec.start_mono) * 1000.0,
        error_type=rec.error_type,
        upstream_request_id=rec.upstream_request_id,
        time_to_first_token_ms=(first_byte - rec.start_mono) * 1000.0 if first_byte else 0.0,
    )
    ts = ev.start_time  # what Timestamp.FromNanoseconds does, without its checks
    ts.seconds, ts.nanos = divmod(rec.start_ns, 1_000_000_000)
    if rec.attempts:
        ev.attempts.extend(rec.attempts)
    if verdict is not None:
        _who(ev, verdict)
    if usage is not None:
        _copy(ev, usage, _USAGE_FIELDS)
        ev.token_source = source
        _price(ev, rec, usage)
    if rec.prompt is not None:
        # Metadata always; redacted text only under FULL logging.
        end_s = rec.start_ns / 1e9 + (end_mono - rec.start_mono)
        rec.prompt.fill(ev, usage.prompt_tokens if usage is not None else None, end_s)
    return ev


def _usage(rec: RequestRecord, counter: Counter | None) -> tuple[Usage | None, str]:
    if rec.usage is not None:
        return rec.usage, "provider"
    if rec.estimate is None or counter is None or rec.served is None:
        return None, ""
    count = counter(rec.served.model)
    usage = rec.estimate(count) if count is not None else None
    return usage, "estimated"


def _copy(ev: usage_pb2.UsageEvent, source: object, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(source, name)
        if value is not None:
            setattr(ev, name, value)


def _who(ev: usage_pb2.UsageEvent, verdict: Verdict) -> None:
    """Who asked, and what admission said about it."""
    key: Any = verdict.key
    if key is not None:
        ev.workspace = key.workspace.name
        ev.key = key.name
    if verdict.attribution is not None:
        _copy(ev, verdict.attribution, _ATTRIBUTION_FIELDS)
    elif key is not None:  # refused before the actor token was read: the key's own actor
        ev.actor = key.actor
    ev.requested_model = verdict.model
    if verdict.shadow_reason:
        ev.shadow_reason = verdict.shadow_reason
    if verdict.labels:
        ev.labels.update(verdict.labels)
    if type(verdict) is Refused and verdict.error.code in POLICY_REASONS:
        ev.policy_reason = verdict.error.code


def _price(ev: usage_pb2.UsageEvent, rec: RequestRecord, usage: Usage) -> None:
    """Cost at the serving provider's rates (unset when unpriced)."""
    served = rec.served
    verdict = rec.verdict
    if served is None or verdict is None:
        return
    cost = verdict.key.workspace.prices.price(  # type: ignore[union-attr]
        served.provider.kind_name,
        served.model,
        rec.start_ns // 1_000_000_000,
        usage.token_counts(),
    )
    if cost is not None:
        ev.cost_micro_usd = cost.micro_usd
        ev.price_catalog_version = cost.catalog_version
