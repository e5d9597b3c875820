"""Requests cut off by the end of a process: their provisional events (core.interruption),
how the journal keeps them (notes, carried over at rotate) and how recovery pairs them with
finished events (usage.interrupted). Pure: fixed clock, no loop."""

from __future__ import annotations

from pathlib import Path

import orjson

from dataplane.core.admission import Admitted, Ask, Endpoint, admit, find_key
from dataplane.core.chat_request import prepare_chat
from dataplane.core.interruption import INTERRUPTED, interrupted_event
from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.record import RequestRecord
from dataplane.core.stream_tap import StreamTap
from dataplane.usage.interrupted import interrupted_events
from dataplane.usage.journal import Journal, JournalSegment, note_record
from dataplane.usage.recovery import recover
from dataplane.usage.spool import Spool
from oggy.contract.compile import compile_snapshot
from oggy.contract.dialects import OPENAI_FAMILY
from oggy.contract.identity import ReplayCaches
from oggy.contract.prompt_logging import PromptLogging, PromptLoggingPolicy
from oggy.contract.redaction import Redactor
from oggy.v1 import usage_pb2, usage_service_pb2
from tests.support.identity_snapshot import WS, actor, identity_snapshot, key_text

START_NS = 1_800_000_000 * 10**9
CHAT = Endpoint("/v1/chat/completions", OPENAI_FAMILY, prepare=prepare_chat)
CFG = compile_snapshot(identity_snapshot(), replay_caches=ReplayCaches())
CONTENT = "one two three four five six seven eight"


def admitted(key_id: str = "kalice", *, stream: bool = True, max_tokens: int = 0) -> RequestRecord:
    """A record as `metering` leaves it once admitted, before any upstream attempt."""
    rec = RequestRecord("evt-1", "req-1", CHAT.path, START_NS, 10.0, "10.0.0.1")
    body: dict[str, object] = {
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [{"role": "user", "content": CONTENT}],
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    raw = orjson.dumps(body)
    found = find_key(CFG.keys_by_id, f"Bearer {key_text(key_id)}", START_NS / 1e9)
    rec.verdict = admit(found, Ask({}, rec.peer, raw), CHAT, START_NS / 1e9)
    assert isinstance(rec.verdict, Admitted)
    rec.model = rec.verdict.model
    rec.stream = stream
    rec.prompt = PromptCapture(rec.verdict.key.prompt_logging, CHAT.path, len(raw))
    rec.prompt.request(rec.verdict.request.body)  # type: ignore[union-attr]
    return rec


def chunk(word: str) -> bytes:
    return b'data: {"choices":[{"delta":{"content":"%s"}}]}\n\n' % word.encode()


# -- the provisional event ---------------------------------------------------------


def test_admitted_request_is_attributed_flagged_and_estimated_before_any_byte() -> None:
    rec = admitted()
    ev = interrupted_event(rec, 10.5, "dp-1")
    assert (ev.event_id, ev.request_id, ev.dataplane_id) == ("evt-1", "req-1", "dp-1")
    assert (ev.workspace, ev.key, ev.actor, ev.team) == (
        WS,
        f"{WS}/keys/kalice",
        actor("alice"),
        actor("ml"),
    )
    assert (ev.http_status, ev.error_type) == (499, INTERRUPTED)
    # The provider about to be called, and the model it serves.
    assert ev.provider == f"{WS}/providers/fake" and ev.model == "gpt-4o-mini"
    assert ev.stream and ev.latency_ms == 500.0
    # No tokenizer count yet: ~4 characters a token; nothing relayed yet.
    assert ev.token_source == "estimated" and ev.completion_tokens == 0
    assert ev.prompt_tokens == ev.prompt.context_tokens > 0
    assert ev.HasField("cost_micro_usd")  # priced at the targeted provider's rates
    assert ev.prompt.message_count == 1


def test_progress_counts_the_prompt_and_the_chunks_relayed_within_max_tokens() -> None:
    rec = admitted(max_tokens=3)
    rec.served = rec.verdict.targets[0]  # type: ignore[union-attr]
    rec.tap = StreamTap(drop_usage_chunk=True)
    for word in ("a", "b"):
        rec.tap.feed(chunk(word))
    ev = interrupted_event(rec, 11.0, "dp", prompt_tokens=42)
    assert (ev.prompt_tokens, ev.completion_tokens, ev.total_tokens) == (42, 2, 44)
    for word in ("c", "d", "e"):
        rec.tap.feed(chunk(word))
    assert interrupted_event(rec, 11.0, "dp", prompt_tokens=42).completion_tokens == 3


def test_usage_the_stream_already_carried_is_the_providers() -> None:
    rec = admitted()
    rec.tap = StreamTap(drop_usage_chunk=True)
    rec.tap.feed(b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n')
    ev = interrupted_event(rec, 11.0, "dp")
    assert (ev.prompt_tokens, ev.completion_tokens, ev.token_source) == (7, 3, "provider")
    assert ev.error_type == INTERRUPTED


def test_never_prompt_text_even_under_full_logging() -> None:
    rec = admitted()
    full = PromptLoggingPolicy(mode=PromptLogging.FULL, redactor=Redactor(()))
    rec.prompt = PromptCapture(full, CHAT.path, 100)
    rec.prompt.request(rec.verdict.request.body)  # type: ignore[union-attr]
    ev = interrupted_event(rec, 11.0, "dp")
    assert not ev.HasField("prompt_text") and ev.prompt.message_count == 1
    # ...and the request's own event, later, still gets its text (nothing sealed early).
    final = usage_pb2.UsageEvent()
    rec.prompt.fill(final, 5, 12.0)
    assert CONTENT in final.prompt_text.request_text


def test_the_target_being_tried_is_named() -> None:
    rec = admitted()
    target = rec.verdict.targets[0]  # type: ignore[union-attr]
    rec.provider, rec.model = target.provider.name, target.model
    assert interrupted_event(rec, 11.0, "dp").provider == target.provider.name


# -- pairing notes with events (pure) --------------------------------------------------


def ev(event_id: str, **fields: object) -> usage_pb2.UsageEvent:
    return usage_pb2.UsageEvent(event_id=event_id, **fields)  # type: ignore[arg-type]


def seg(seq: int, events: list[str] = (), notes: list[usage_pb2.UsageEvent] = ()) -> JournalSegment:  # type: ignore[assignment]
    return JournalSegment(seq, [ev(i) for i in events], list(notes))


def test_a_note_without_an_event_is_interrupted_with_its_latest_progress() -> None:
    got = interrupted_events(
        [
            seg(1, notes=[ev("a", completion_tokens=0), ev("b")]),
            seg(2, events=["b"], notes=[ev("a", completion_tokens=5)]),  # carried, renewed
            seg(3, notes=[ev("a", completion_tokens=9), ev("c")]),
        ]
    )
    assert [(e.event_id, e.completion_tokens) for e in got] == [("a", 9), ("c", 0)]


def test_a_finished_request_never_gets_a_second_event() -> None:
    # Finished in the segment its notes were carried into; in the same one; after a
    # note that raced it (notes after the event never happen, but would not matter).
    assert interrupted_events([seg(1, notes=[ev("x")]), seg(2, ["x"], [ev("x")])]) == []
    assert interrupted_events([seg(1, ["y"], [ev("y")])]) == []
    assert interrupted_events([seg(1, ["z"]), seg(2, notes=[ev("z")])]) == []


def test_segments_of_two_dead_processes() -> None:
    got = interrupted_events([seg(1, notes=[ev("p1")]), seg(7, ["q"], [ev("p2"), ev("q")])])
    assert [e.event_id for e in got] == ["p1", "p2"]


# -- the journal keeps notes -------------------------------------------------------------


def note(i: str, tokens: int = 0) -> bytes:
    return note_record(ev(i, completion_tokens=tokens).SerializeToString())


def test_notes_are_read_back_apart_from_events(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    assert j.recover() == []
    j.append_serialized([note("a"), ev("a").SerializeToString(), note("b")])
    [segment] = Journal(tmp_path).recover()
    assert [e.event_id for e in segment.events] == ["a"]
    assert [e.event_id for e in segment.notes] == ["a", "b"]


def test_rotate_carries_open_notes_so_a_deleted_segment_loses_none(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    assert j.recover() == []
    j.append_serialized([note("a"), note("b"), ev("b").SerializeToString()])
    sealed = j.rotate(carry=[note("a", 4)])
    assert sealed is not None
    # Nothing new since: the segment holding only the carry is kept, not sealed again.
    assert j.rotate(carry=[note("a", 4)]) is None
    j.remove([sealed])  # its events were spooled
    segments = Journal(tmp_path).recover()
    assert [(e.event_id, e.completion_tokens) for e in interrupted_events(segments)] == [("a", 4)]


def test_recovery_spools_interrupted_events_once(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal")
    assert j.recover() == []
    j.append_serialized([note("done"), note("cut", 3), ev("done").SerializeToString()])
    spool = Spool(tmp_path / "spool")

    def make_batches(
        events: list[usage_pb2.UsageEvent],
    ) -> list[usage_service_pb2.ReportUsageRequest]:
        return [usage_service_pb2.ReportUsageRequest(batch_id="b1", events=events)]

    found = recover(spool, Journal(tmp_path / "journal"), make_batches)
    [ref] = found.refs
    assert [(e.event_id, e.completion_tokens) for e in spool.read(ref).events] == [
        ("done", 0),
        ("cut", 3),
    ]
    # Spooled: the next process finds nothing to replay a second time.
    assert Journal(tmp_path / "journal").recover() == []
