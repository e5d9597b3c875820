"""One usage event and one metrics sample per API request, whatever happens in it.

`metered` wraps an endpoint: it opens the RequestRecord, maps a GatewayError
to its response (through the one mapper), and in `finally` emits exactly one
UsageEvent — for successes, auth failures, policy blocks, upstream errors and
clients that went away alike.

A plain response goes out after the handler returns, and the handler awaits
the sink's "journaled" future first, so the event is journaled before the client
has its answer (other requests run while the journal writes). A streamed
response is written by the handler itself: it awaits `emit_usage_now` just
before ending the stream, for the same ordering; `finally` then emits nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from dataplane.config.compiled import CompiledConfig, CompiledKey
from dataplane.config.holder import ConfigHolder
from dataplane.core import errors
from dataplane.core.auth import authenticate
from dataplane.core.identity import (
    ACTOR_HEADER,
    TAGS_HEADER,
    WORKFLOW_HEADER,
    parse_labels,
    parse_workflow,
)
from dataplane.core.identity import resolve as resolve_identity
from dataplane.core.policy import Decision, Deny, client_ip
from dataplane.http.errors import error_response
from dataplane.http.key_headers import presented_authorization
from dataplane.http.metrics import Metrics
from dataplane.http.record import RequestRecord
from dataplane.http.upstream import Upstream
from dataplane.usage_sink import UsageSink

log = logging.getLogger(__name__)

Inner = Callable[[web.Request, RequestRecord], Awaitable[web.StreamResponse]]
_EMIT_USAGE = web.RequestKey(
    "oggy_emit_usage",
    Callable[[], Awaitable[None] | None],  # type: ignore[arg-type]
)


@dataclass(frozen=True, slots=True)
class Deps:
    holder: ConfigHolder
    sink: UsageSink
    upstream: Upstream
    metrics: Metrics
    dataplane_id: str
    new_id: Callable[[], str]
    # Events waiting for a token estimate in a thread (see `emit`); drained at cleanup.
    deferred: set[asyncio.Task[None]] = field(default_factory=set)


def metered(
    endpoint: str, deps: Deps, inner: Inner
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    sink = deps.sink
    metrics = deps.metrics
    new_id = deps.new_id
    dataplane_id = deps.dataplane_id
    deferred = deps.deferred

    async def handler(request: web.Request) -> web.StreamResponse:
        rec = RequestRecord(
            new_id(), endpoint, time.time_ns(), time.perf_counter(), request.remote or ""
        )
        emitted = cancelled = False

        def emit() -> Awaitable[None] | None:
            nonlocal emitted
            if emitted:
                return None
            emitted = True
            if rec.deferred_settle is not None:
                # A cancelled stream whose estimate needs the tokenizer loaded: never
                # on the loop. Still exactly one event, emitted once it is settled.
                task = asyncio.get_running_loop().create_task(
                    _settle_and_emit(rec, sink, dataplane_id)
                )
                deferred.add(task)
                task.add_done_callback(deferred.discard)
                return None
            return _emit(sink, rec, time.perf_counter(), dataplane_id)

        request[_EMIT_USAGE] = emit
        try:
            resp = await inner(request, rec)
            if not rec.http_status:
                rec.http_status = resp.status
            return resp
        except errors.GatewayError as e:
            rec.fail(e.status, e.code)
            if isinstance(e, errors.InvalidApiKey) and e.key_record is not None:
                rec.set_key(e.key_record)
            return error_response(e, rec.request_id)
        except asyncio.CancelledError:
            cancelled = True
            if not rec.error_type:
                rec.fail(499, "client_disconnected")
            raise
        except Exception:
            log.exception("unhandled error in %s (request %s)", endpoint, rec.request_id)
            rec.fail(500, "internal_error")
            return error_response(errors.GatewayError(), rec.request_id)
        finally:
            end = time.perf_counter()
            metrics.observe(endpoint, rec.http_status, end - rec.start_mono)
            if rec.shadow_reason:
                metrics.shadow_denial(rec.shadow_reason)
            journaled = emit()
            if journaled is not None and not cancelled:
                await journaled  # the answer goes out once its event is journaled

    return handler


def _emit(
    sink: UsageSink, rec: RequestRecord, end_mono: float, dataplane_id: str
) -> Awaitable[None] | None:
    try:
        return sink.emit(rec.to_event(end_mono, dataplane_id))
    except Exception:  # the contract says emit never raises; a bug must not 500 a request
        log.exception("usage sink raised for request %s", rec.request_id)
        return None


async def _settle_and_emit(rec: RequestRecord, sink: UsageSink, dataplane_id: str) -> None:
    end = time.perf_counter()  # the request ended now; settling is bookkeeping
    settle, rec.deferred_settle = rec.deferred_settle, None
    try:
        if settle is not None:
            await asyncio.to_thread(settle)
    except Exception:
        log.exception("usage estimate failed for request %s", rec.request_id)
    finally:
        _emit(sink, rec, end, dataplane_id)


async def drain_deferred(deps: Deps) -> None:
    """Wait for events still being settled (app cleanup, before the sink stops)."""
    while deps.deferred:
        await asyncio.gather(*deps.deferred, return_exceptions=True)


async def emit_usage_now(request: web.Request) -> None:
    """Emit the request's usage event now, as recorded so far (once per request),
    and wait until it is journaled.

    For handlers that write the response themselves: await it before ending it.
    """
    emit = request.get(_EMIT_USAGE)
    journaled = emit() if emit is not None else None
    if journaled is not None:
        await journaled


def current_config(holder: ConfigHolder) -> CompiledConfig:
    cfg = holder.current
    if cfg is None:
        raise errors.NotReady()
    return cfg


def authorize(request: web.Request, rec: RequestRecord, cfg: CompiledConfig) -> CompiledKey:
    """Authenticate the key, check the caller, and settle who pays (core/identity.py).

    Order: key (secret, then revoked/expired) → bound actor disabled → client
    IP → actor token required → actor token verified (signature checks are
    memoised per token) → attribution (a workspace key used with a token gets the
    token actor's policies merged in; the returned key carries that policy) →
    labels, when the policy allows. Token requirement, replay protection, claim
    overrides and trusted proxies come from the key's own policy set.
    Blocks raise a GatewayError whose code becomes the event's policy_reason.
    """
    headers = request.headers
    now = rec.start_ns / 1e9
    key = authenticate(presented_authorization(headers), cfg.keys_by_id, now)
    rec.set_key(key)
    if key.actor_disabled:
        raise errors.ActorDisabled()
    policy = key.policy
    if policy.trusted_proxies:
        rec.client_ip = client_ip(
            rec.client_ip, headers.get("X-Forwarded-For"), policy.trusted_proxies
        )
    enforce(policy.check_ip(rec.client_ip), rec)
    token = headers.get(ACTOR_HEADER)
    enforce(policy.check_actor_token(token is not None), rec)
    who = resolve_identity(key.identity, key.bound_actor, policy, token, now)
    rec.set_attribution(who)
    if token is not None and key.bound_actor is None:
        # A workspace key acting for a verified actor: the actor's (and its teams')
        # policies apply too, as for a key bound to it (memoised per key and actor).
        key = key.identity.as_actor(key, who.actor)
        if key.policy is not policy:
            policy = key.policy
            enforce(policy.check_ip(rec.client_ip), rec)
    if policy.allow_labels:
        labels = parse_labels(headers.get(TAGS_HEADER))
        if labels:
            rec.labels = labels
        if not rec.workflow:
            rec.workflow = parse_workflow(headers.get(WORKFLOW_HEADER))
    return key


def enforce(decision: Decision, rec: RequestRecord | None = None) -> None:
    """Raise a Deny's error; record an Allow's shadow reason on `rec`, if given."""
    if isinstance(decision, Deny):
        raise decision.error()
    if rec is not None and decision.shadow_reason:
        rec.shadow(decision.shadow_reason)
