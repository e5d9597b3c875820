"""Settlement: a finished request's usage, cost and UsageEvent. Pure.

Every endpoint ends here, whatever happened (success, refusal, upstream error,
a client that hung up), so there is one place that says what an event holds:
- usage is the provider's when it sent usable counts (`token_source =
  "provider"`); otherwise, when the request left something to estimate from (a
  stream cut short, a response without `usage` or with counts that are not
  plausible numbers or do not add up), a tiktoken estimate (`"estimated"`;
  DESIGN invariant 7) with the tokenizer injected, capped at the request's max
  output tokens; what was wrong with the provider's figures goes in `anomalies`;
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
from dataplane.core.event_values import PARTIAL, fit_int, fit_text, put_int
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
    if (rec.usage is None or not rec.usage.usable) and req is not None:

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
    if (rec.usage is None or not rec.usage.usable) and req is not None:

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
    if rec.estimate is not None and (rec.usage is None or not rec.usage.usable):
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
_INT32 = (-(2**31), 2**31 - 1)


def settle(
    rec: RequestRecord, end_mono: float, dataplane_id: str, counter: Counter | None
) -> usage_pb2.UsageEvent:
    """The request's one usage event, `end_mono` being when it ended (perf_counter).

    Never raises for what the request carried: every value from outside is fitted
    to its field (event_values), and a part that still cannot be built is left
    out; either way the event says so in `anomalies`.
    """
    anomalies: set[str] = set()
    first_byte = rec.first_byte
    verdict = rec.verdict
    # One constructor call is the cheapest way to fill a message (empty strings are
    # the proto3 default: passing them costs nothing on the wire).
    ev = usage_pb2.UsageEvent(
        event_id=rec.event_id,
        request_id=fit_text(rec.request_id, anomalies),
        dataplane_id=dataplane_id,
        client_ip=fit_text(rec.peer if verdict is None else verdict.client_ip, anomalies),
        endpoint=rec.endpoint,
        provider=fit_text(rec.provider, anomalies),
        model=fit_text(rec.model, anomalies),
        stream=rec.stream,
        http_status=fit_int(rec.http_status, *_INT32, anomalies),
        latency_ms=(end_mono - rec.start_mono) * 1000.0,
        error_type=fit_text(rec.error_type, anomalies),
        upstream_request_id=fit_text(rec.upstream_request_id, anomalies),
        time_to_first_token_ms=(first_byte - rec.start_mono) * 1000.0 if first_byte else 0.0,
    )
    ts = ev.start_time  # what Timestamp.FromNanoseconds does, without its checks
    ts.seconds, ts.nanos = divmod(rec.start_ns, 1_000_000_000)
    usage: Usage | None = None
    try:
        if rec.attempts:
            ev.attempts.extend(rec.attempts)
        if verdict is not None:
            _who(ev, verdict, anomalies)
        usage, source = _usage(rec, counter, anomalies)
        if usage is not None:
            _copy(ev, usage, _USAGE_FIELDS, anomalies)
            ev.token_source = source
            _price(ev, rec, usage, anomalies)
        if rec.prompt is not None:
            # Metadata always; redacted text only under FULL logging.
            end_s = rec.start_ns / 1e9 + (end_mono - rec.start_mono)
            prompt_tokens = ev.prompt_tokens if usage is not None else None
            rec.prompt.fill(ev, prompt_tokens, end_s, anomalies)
    except Exception:  # a value nothing above foresaw: the event goes without that part
        anomalies.add(PARTIAL)
    if anomalies:
        ev.anomalies.extend(sorted(anomalies))
    return ev


def _usage(
    rec: RequestRecord, counter: Counter | None, anomalies: set[str]
) -> tuple[Usage | None, str]:
    """The provider's counts when usable; else the tokenizer's estimate; else what is known."""
    reported = rec.usage
    if reported is not None:
        anomalies.update(reported.anomalies)
        if reported.usable:
            return reported, "provider"
    if rec.estimate is not None and counter is not None and rec.served is not None:
        count = counter(rec.served.model)
        if count is not None:
            return rec.estimate(count), "estimated"
    # Unusable figures and nothing to estimate with: the parts that parsed, flagged.
    return reported, "provider" if reported is not None else ""


def _copy(
    ev: usage_pb2.UsageEvent, source: object, names: tuple[str, ...], anomalies: set[str]
) -> None:
    for name in names:
        value = getattr(source, name)
        if value is None:
            continue
        if type(value) is int:
            put_int(ev, name, value, anomalies)
        else:
            setattr(ev, name, fit_text(value, anomalies))


def _who(ev: usage_pb2.UsageEvent, verdict: Verdict, anomalies: set[str]) -> None:
    """Who asked, and what admission said about it."""
    key: Any = verdict.key
    if key is not None:
        ev.workspace = key.workspace.name
        ev.key = key.name
    if verdict.attribution is not None:
        _copy(ev, verdict.attribution, _ATTRIBUTION_FIELDS, anomalies)
    elif key is not None:  # refused before the actor token was read: the key's own actor
        ev.actor = key.actor
    ev.requested_model = fit_text(verdict.model, anomalies)
    if verdict.shadow_reason:
        ev.shadow_reason = verdict.shadow_reason
    if verdict.labels:  # from a client's header: any bytes
        labels = ev.labels
        for name, value in verdict.labels.items():
            labels[fit_text(name, anomalies)] = fit_text(value, anomalies)
    if type(verdict) is Refused:
        err = verdict.error
        reason = err.policy_reason or err.code
        if reason in POLICY_REASONS:
            ev.policy_reason = reason


def _price(ev: usage_pb2.UsageEvent, rec: RequestRecord, usage: Usage, anomalies: set[str]) -> None:
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
        put_int(ev, "cost_micro_usd", cost.micro_usd, anomalies)
        ev.price_catalog_version = cost.catalog_version
