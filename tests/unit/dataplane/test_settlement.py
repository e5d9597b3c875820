"""core.settlement: the one UsageEvent of a request, from its record. Pure: fixed clock, no loop.

Usage is the provider's, else an estimate with the injected tokenizer; cost
comes from the workspace price book at the serving provider's rates; who asked
comes from the admission verdict (attribution, labels, policy reasons).
"""

from __future__ import annotations

import orjson

from dataplane.core.admission import Admitted, Ask, Endpoint, Refused, admit, find_key
from dataplane.core.chat_request import prepare_chat
from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import (
    response_usage,
    settle,
    settles_in_thread,
    stream_usage,
)
from dataplane.core.stream_tap import StreamTap
from dataplane.core.usage_extract import Usage
from dataplane.providers import openai
from oggy.contract import errors
from oggy.contract.compile import compile_snapshot
from oggy.contract.default_prices import DEFAULT_CATALOG_VERSION
from oggy.contract.dialects import OPENAI_FAMILY
from oggy.contract.identity import ReplayCaches
from oggy.contract.prompt_logging import DEFAULT_PROMPT_LOGGING
from oggy.v1 import policy_pb2, price_pb2
from tests.support.identity_snapshot import WS, actor, identity_snapshot, key_text

START_NS = 1_800_000_000 * 10**9
CHAT = Endpoint("/v1/chat/completions", OPENAI_FAMILY, prepare=prepare_chat)
SNAPSHOT = identity_snapshot(
    extra_policies=[
        policy_pb2.Policy(
            name=f"{WS}/policies/tags", target=f"{WS}/keys/klabels", allow_labels=True
        )
    ]
)
SNAPSHOT.prices.append(
    price_pb2.ModelPrice(
        name=f"{WS}/prices/mini",
        provider="openai",
        model="gpt-4o-mini",
        input_per_mtok=1_000_000,
        output_per_mtok=2_000_000,
    )
)
CFG = compile_snapshot(SNAPSHOT, replay_caches=ReplayCaches())


def words(text: str) -> int:
    return len(text.split())


def record(key_id: str, model: str = "gpt-4o-mini", **headers: str) -> RequestRecord:
    """A record as `metering` leaves it after admission (served by the first target)."""
    rec = RequestRecord("evt-1", "client-req-1", CHAT.path, START_NS, 10.0, "10.0.0.1")
    body = orjson.dumps({"model": model, "messages": [{"role": "user", "content": "a b c"}]})
    found = find_key(CFG.keys_by_id, f"Bearer {key_text(key_id)}", START_NS / 1e9)
    rec.verdict = admit(found, Ask(headers, rec.peer, body), CHAT, START_NS / 1e9)
    rec.model = rec.verdict.model
    if isinstance(rec.verdict, Admitted):
        rec.served = rec.verdict.targets[0]
        rec.provider = rec.served.provider.name
    return rec


def test_provider_usage_priced_from_the_workspace_book() -> None:
    rec = record("kalice")
    rec.http_status = 200
    rec.first_byte = 10.25
    response_usage(
        rec, None, openai.CHAT, {"usage": {"prompt_tokens": 1000, "completion_tokens": 500}}
    )
    assert not settles_in_thread(rec)
    ev = settle(rec, 10.5, "dp-1", None)
    assert (ev.event_id, ev.request_id, ev.dataplane_id) == ("evt-1", "client-req-1", "dp-1")
    assert (ev.workspace, ev.key, ev.actor, ev.team) == (
        WS,
        f"{WS}/keys/kalice",
        actor("alice"),
        actor("ml"),
    )
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (1000, 500, 1500)
    assert ev.token_source == "provider"
    assert ev.cost_micro_usd == 1000 + 1000  # $1 and $2 per 1M tokens
    assert ev.price_catalog_version.startswith(DEFAULT_CATALOG_VERSION + "+w-")
    assert (ev.latency_ms, ev.time_to_first_token_ms) == (500.0, 250.0)
    assert ev.start_time.seconds == START_NS // 10**9
    assert (ev.model, ev.requested_model, ev.provider) == (
        "gpt-4o-mini",
        "gpt-4o-mini",
        f"{WS}/providers/fake",
    )


def test_without_provider_usage_the_estimate_counts_with_the_injected_tokenizer() -> None:
    rec = record("kws")
    req = rec.verdict.request  # type: ignore[union-attr]
    response_usage(
        rec, req, openai.CHAT, {"choices": [{"message": {"content": "one two three four"}}]}
    )
    assert settles_in_thread(rec)  # tokenising stays off the event loop
    ev = settle(rec, 11.0, "dp", lambda model: words)
    assert ev.token_source == "estimated" and ev.completion_tokens == 4
    assert ev.prompt_tokens > 0 and ev.HasField("cost_micro_usd")
    # No tokenizer for the model: no counts rather than a failure (and never a 0 cost).
    ev = settle(rec, 11.0, "dp", lambda model: None)
    assert ev.token_source == "" and not ev.HasField("cost_micro_usd")


def test_a_stream_cut_short_is_estimated_from_the_bytes_seen() -> None:
    rec = record("kws")
    tap = StreamTap(drop_usage_chunk=True)
    tap.feed(b'data: {"choices":[{"delta":{"content":"alpha beta"}}]}\n\n')
    stream_usage(rec, rec.verdict.request, openai.CHAT, tap)  # type: ignore[union-attr]
    ev = settle(rec, 11.0, "dp", lambda model: words)
    assert (ev.completion_tokens, ev.token_source) == (2, "estimated")
    tap.feed(b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n')
    stream_usage(rec, rec.verdict.request, openai.CHAT, tap)  # type: ignore[union-attr]
    ev = settle(rec, 11.0, "dp", None)
    assert (ev.prompt_tokens, ev.completion_tokens, ev.token_source) == (7, 3, "provider")


def test_unpriced_model_has_no_cost() -> None:
    rec = record("kws", "gpt-4o")
    rec.usage = Usage(10, 10, 20)
    rec.served = rec.verdict.targets[0]  # type: ignore[union-attr]
    ev = settle(rec, 11.0, "dp", None)
    assert ev.total_tokens == 20 and ev.HasField("cost_micro_usd")  # default list price
    rec.served = type(rec.served)(rec.served.provider, "no-price-anywhere")
    ev = settle(rec, 11.0, "dp", None)
    assert not ev.HasField("cost_micro_usd") and ev.price_catalog_version == ""


def test_refusals_record_the_policy_reason_and_who_was_known() -> None:
    rec = record("kcarol")
    rec.fail(403, "actor_disabled")
    ev = settle(rec, 11.0, "dp", None)
    assert (ev.http_status, ev.error_type, ev.policy_reason) == (
        403,
        "actor_disabled",
        "actor_disabled",
    )
    assert (ev.key, ev.actor, ev.team) == (f"{WS}/keys/kcarol", actor("carol"), "")
    assert not ev.HasField("prompt") and ev.token_source == ""

    rec = RequestRecord("evt-2", "evt-2", CHAT.path, START_NS, 10.0, "10.0.0.9")
    found = find_key(CFG.keys_by_id, "Bearer nope", START_NS / 1e9)
    rec.verdict = admit(found, Ask({}, rec.peer), CHAT, START_NS / 1e9)
    assert isinstance(rec.verdict, Refused)
    rec.fail(401, "invalid_api_key")
    ev = settle(rec, 11.0, "dp", None)
    assert (ev.workspace, ev.key, ev.policy_reason, ev.client_ip) == (
        "",
        "",
        "invalid_api_key",
        "10.0.0.9",
    )


def test_upstream_errors_are_not_policy_reasons() -> None:
    rec = record("kws")
    rec.fail(429, "invalid_api_key")  # an upstream's code that happens to match one
    assert settle(rec, 11.0, "dp", None).policy_reason == ""


def test_labels_workflow_and_shadow_reason_come_from_admission() -> None:
    rec = record("klabels", **{"X-Oggy-Tags": "tier=gold", "X-Oggy-Workflow": "nightly"})
    ev = settle(rec, 11.0, "dp", None)
    assert dict(ev.labels) == {"tier": "gold"} and ev.workflow == "nightly"
    rec = record("kshadow", "gpt-4o")
    assert settle(rec, 11.0, "dp", None).shadow_reason == "actor_token_required"


def test_no_verdict_means_nothing_known_but_the_socket() -> None:
    rec = RequestRecord("evt-3", "evt-3", CHAT.path, START_NS, 10.0, "10.0.0.7")
    rec.fail(503, errors.NotReady.code)
    ev = settle(rec, 10.001, "dp", None)
    assert (ev.client_ip, ev.workspace, ev.http_status, ev.error_type) == (
        "10.0.0.7",
        "",
        503,
        "not_ready",
    )


def test_prompt_metadata_goes_with_the_event() -> None:
    rec = record("kws")
    rec.prompt = PromptCapture(DEFAULT_PROMPT_LOGGING, CHAT.path, 99)
    rec.prompt.request(rec.verdict.request.body)  # type: ignore[union-attr]
    rec.usage = Usage(5, 1, 6)
    ev = settle(rec, 11.0, "dp", None)
    assert (ev.prompt.request_bytes, ev.prompt.message_count, ev.prompt.context_tokens) == (
        99,
        1,
        5,
    )
