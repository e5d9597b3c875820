"""settle() never drops an event because of a value in it: numbers past their proto field,
text that is not UTF-8, provider usage that is nonsense. Pure: fixed clock, no loop."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from dataplane.core.chat_request import ChatRequest
from dataplane.core.event_values import INVALID_TEXT, VALUE_OUT_OF_RANGE
from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.prompt_metadata import RequestMetadata
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import response_usage, settle, settles_in_thread
from dataplane.core.usage_extract import USAGE_INCONSISTENT, USAGE_MALFORMED, Usage
from dataplane.providers import openai
from oggy.contract.prompt_logging import DEFAULT_PROMPT_LOGGING
from oggy.v1 import usage_pb2
from tests.unit.dataplane.test_settlement import CHAT, record

ANY_INT = st.integers(min_value=-(2**80), max_value=2**80)
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=20)  # surrogates too


def words(text: str) -> int:
    return len(text.split())


@settings(max_examples=300, deadline=None)
@given(
    status=ANY_INT,
    counts=st.tuples(ANY_INT, ANY_INT, ANY_INT),
    details=st.tuples(*(st.none() | ANY_INT for _ in range(3))),
    meta=st.tuples(ANY_INT, ANY_INT, ANY_INT, ANY_INT),
    texts=st.tuples(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT),
    labels=st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3),
)
def test_settle_never_raises_and_flags_what_it_changed(
    status, counts, details, meta, texts, labels
) -> None:
    rec = record("klabels")
    rec.verdict = rec.verdict._replace(labels=labels)  # type: ignore[union-attr]
    rec.http_status = status
    rec.error_type, rec.upstream_request_id, rec.model, rec.request_id = texts
    prompt, completion, total = counts
    cached, reasoning, written = details
    rec.usage = Usage(prompt, completion, total, cached, reasoning, written)
    rec.prompt = PromptCapture(DEFAULT_PROMPT_LOGGING, CHAT.path, 10)
    messages, max_tokens, tools, size = meta
    rec.prompt.meta = RequestMetadata(messages, max_tokens, tools, size)

    ev = settle(rec, 11.0, "dp", None)

    assert ev.event_id == "evt-1"
    assert usage_pb2.UsageEvent.FromString(ev.SerializeToString()) == ev
    assert "partial" not in ev.anomalies  # every value was fitted, none had to be skipped
    int32 = [status, meta[0], meta[2]]
    int64 = [*counts, *(d for d in details if d is not None), meta[1], meta[3]]
    if any(not -(2**31) <= v < 2**31 for v in int32) or any(
        not -(2**63) <= v < 2**63 for v in int64
    ):
        assert VALUE_OUT_OF_RANGE in ev.anomalies
    if any(_has_surrogate(s) for s in [*texts, *labels, *labels.values()]):
        assert INVALID_TEXT in ev.anomalies


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def test_a_max_tokens_past_int64_is_clamped_and_flagged_not_dropped() -> None:
    rec = record("kalice")
    rec.prompt = PromptCapture(DEFAULT_PROMPT_LOGGING, CHAT.path, 10)
    rec.prompt.meta = RequestMetadata(1, 2**64 - 1, 0, 10)
    ev = settle(rec, 11.0, "dp", None)
    assert ev.prompt.requested_max_tokens == 2**63 - 1
    assert list(ev.anomalies) == [VALUE_OUT_OF_RANGE]


def _chat_record(max_tokens: int | None = None) -> tuple[RequestRecord, ChatRequest]:
    rec = record("kalice")
    req = rec.verdict.request  # type: ignore[union-attr]
    if max_tokens is not None:
        req = dataclasses.replace(req, max_output_tokens=max_tokens)
    return rec, req


def test_unusable_provider_counts_fall_back_to_the_capped_estimate() -> None:
    rec, req = _chat_record(max_tokens=2)
    parsed = {
        "choices": [{"message": {"content": "one two three four"}}],
        "usage": {"prompt_tokens": "12", "completion_tokens": 1e30, "total_tokens": -1},
    }
    response_usage(rec, req, openai.CHAT, parsed)
    assert settles_in_thread(rec)  # the estimate tokenises: off the event loop
    ev = settle(rec, 11.0, "dp", lambda model: words)
    assert ev.token_source == "estimated" and list(ev.anomalies) == [USAGE_MALFORMED]
    assert ev.completion_tokens == 2  # capped at what was asked for
    assert ev.prompt_tokens > 0 and ev.total_tokens == ev.prompt_tokens + 2


def test_parts_that_do_not_add_up_are_estimated_too() -> None:
    rec, req = _chat_record()
    parsed = {
        "choices": [{"message": {"content": "one two three"}}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 5000},
    }
    response_usage(rec, req, openai.CHAT, parsed)
    ev = settle(rec, 11.0, "dp", lambda model: words)
    assert ev.token_source == "estimated" and list(ev.anomalies) == [USAGE_INCONSISTENT]
    assert ev.completion_tokens == 3


def test_without_a_tokenizer_unusable_counts_keep_what_parsed_and_are_flagged() -> None:
    rec, req = _chat_record()
    parsed = {"usage": {"prompt_tokens": 7, "completion_tokens": "9"}}
    response_usage(rec, req, openai.CHAT, parsed)
    ev = settle(rec, 11.0, "dp", lambda model: None)
    assert (ev.prompt_tokens, ev.completion_tokens, ev.token_source) == (7, 0, "provider")
    assert list(ev.anomalies) == [USAGE_MALFORMED]
