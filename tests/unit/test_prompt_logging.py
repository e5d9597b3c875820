from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from google.protobuf.duration_pb2 import Duration

from dataplane.core.prompt_capture import PromptCapture
from dataplane.core.prompt_text import (
    GUARD_CHARS,
    MAX_TEXT_BYTES,
    TRUNCATED_MARKER,
    ResponseTextCollector,
    build_prompt_text,
    request_text,
)
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import settle
from dataplane.core.usage_extract import Usage
from dataplane.usage.spool import Spool
from oggy.contract.compile import ConfigError, compile_snapshot
from oggy.contract.key_text import hash_secret
from oggy.contract.prompt_logging import (
    DEFAULT_PROMPT_LOGGING,
    DEFAULT_RETENTION_S,
    PromptLogging,
    PromptLoggingError,
    PromptLoggingPolicy,
    compile_prompt_logging,
)
from oggy.contract.redaction import Redactor
from oggy.v1 import (
    key_pb2,
    policy_pb2,
    snapshot_pb2,
    usage_pb2,
    usage_service_pb2,
    workspace_pb2,
)

P = policy_pb2.Policy
W = "workspaces/w1"
DAY = 24 * 3600
CHAT = "/v1/chat/completions"


def pol(name: str, mode: int = 0, retention_s: int | None = None, rules=(), **kw) -> P:
    p = P(name=f"{W}/policies/{name}", target=W, prompt_logging=mode, **kw)
    if retention_s is not None:
        p.prompt_retention.CopyFrom(Duration(seconds=retention_s))
    for rule_name, pattern in rules:
        p.redaction_rules.add(name=rule_name, pattern=pattern)
    return p


# -- merge ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policies", "mode", "retention"),
    [
        ([], PromptLogging.METADATA, DEFAULT_RETENTION_S),
        ([pol("a")], PromptLogging.METADATA, DEFAULT_RETENTION_S),
        ([pol("a", P.PROMPT_LOGGING_FULL)], PromptLogging.FULL, DEFAULT_RETENTION_S),
        # The most private mode wins: OFF anywhere beats FULL elsewhere.
        (
            [pol("a", P.PROMPT_LOGGING_FULL), pol("b", P.PROMPT_LOGGING_OFF)],
            PromptLogging.OFF,
            DEFAULT_RETENTION_S,
        ),
        (
            [pol("a", P.PROMPT_LOGGING_FULL), pol("b", P.PROMPT_LOGGING_METADATA)],
            PromptLogging.METADATA,
            DEFAULT_RETENTION_S,
        ),
        # Unspecified has no say.
        ([pol("a", P.PROMPT_LOGGING_FULL), pol("b")], PromptLogging.FULL, DEFAULT_RETENTION_S),
        # The shortest retention wins; zero reads as unset.
        (
            [pol("a", P.PROMPT_LOGGING_FULL, 7 * DAY), pol("b", retention_s=DAY), pol("c", 0, 0)],
            PromptLogging.FULL,
            DAY,
        ),
        # Shadow policies are validated but have no say.
        (
            [pol("a", P.PROMPT_LOGGING_FULL), pol("s", P.PROMPT_LOGGING_OFF, 60, shadow=True)],
            PromptLogging.FULL,
            DEFAULT_RETENTION_S,
        ),
    ],
)
def test_merge(policies: list[P], mode: PromptLogging, retention: int) -> None:
    merged = compile_prompt_logging(policies)
    assert (merged.mode, merged.retention_s) == (mode, retention)
    assert (merged.redactor is not None) == (mode is PromptLogging.FULL)


def test_default_is_shared() -> None:
    assert compile_prompt_logging([pol("a")]) is DEFAULT_PROMPT_LOGGING


def test_redaction_rules_are_a_union_and_redactors_are_cached() -> None:
    cache: dict = {}
    a = pol("a", P.PROMPT_LOGGING_FULL, rules=[("emp", r"EMP-\d{6}")])
    b = pol("b", rules=[("proj", r"PRJ-[A-Z]{3}"), ("emp", r"EMP-\d{6}")])
    first = compile_prompt_logging([a, b], cache)
    second = compile_prompt_logging([b, a], cache)
    assert first.redactor is second.redactor and len(cache) == 1
    assert first.redactor is not None
    assert set(first.redactor.rules) == {"CUSTOM:emp", "CUSTOM:proj"}
    assert first.redactor.redact("EMP-123456 PRJ-ABC").text == "[CUSTOM:emp] [CUSTOM:proj]"


@pytest.mark.parametrize(
    "policy",
    [
        pol("neg", retention_s=-1),
        pol("re", P.PROMPT_LOGGING_FULL, rules=[("bad", "(unclosed")]),
        pol("empty", P.PROMPT_LOGGING_FULL, rules=[("e", "x*")]),
        pol("mode", 99),
    ],
)
def test_merge_rejects_bad_settings(policy: P) -> None:
    with pytest.raises(PromptLoggingError):
        compile_prompt_logging([policy])


# -- compiled into the snapshot -------------------------------------------------------


def snapshot(*policies: P) -> snapshot_pb2.Snapshot:
    return snapshot_pb2.Snapshot(
        revision=1,
        workspaces=[workspace_pb2.Workspace(name=W)],
        keys=[
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(name=f"{W}/keys/k1", state=key_pb2.GatewayKey.STATE_ACTIVE),
                secret_sha256=hash_secret("s"),
            ),
            snapshot_pb2.KeyMaterial(
                key=key_pb2.GatewayKey(name=f"{W}/keys/k2", state=key_pb2.GatewayKey.STATE_ACTIVE),
                secret_sha256=hash_secret("t"),
            ),
        ],
        policies=list(policies),
    )


def test_compiled_per_key() -> None:
    cfg = compile_snapshot(
        snapshot(
            pol("ws", P.PROMPT_LOGGING_FULL, 14 * DAY, rules=[("emp", r"EMP-\d+")]),
            P(name=f"{W}/policies/k2", target=f"{W}/keys/k2", prompt_logging=P.PROMPT_LOGGING_OFF),
        )
    )
    k1 = cfg.keys_by_id["k1"].prompt_logging
    k2 = cfg.keys_by_id["k2"].prompt_logging
    assert (k1.mode, k1.retention_s) == (PromptLogging.FULL, 14 * DAY)
    assert k1.redactor is not None and k1.redactor.rules == ("CUSTOM:emp",)
    assert k2.mode is PromptLogging.OFF and k2.redactor is None


def test_no_policy_means_metadata() -> None:
    assert compile_snapshot(snapshot()).keys_by_id["k1"].prompt_logging is DEFAULT_PROMPT_LOGGING


def test_bad_rule_in_a_policy_targeting_nothing_is_still_rejected() -> None:
    dangling = P(
        name=f"{W}/policies/dangling",
        target=f"{W}/keys/deleted",
        redaction_rules=[policy_pb2.RedactionRule(name="x", pattern="[")],
    )
    with pytest.raises(ConfigError, match="redaction rule 'x'"):
        compile_snapshot(snapshot(dangling))


# -- text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "text"),
    [
        (
            CHAT,
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "hi"},
                            {"type": "image_url", "image_url": {}},
                        ],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {"type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                        ],
                    },
                    {"role": "tool", "content": "42"},
                ]
            },
            'system: be brief\nuser: hi\nassistant: f({"a":1})\ntool: 42\n',
        ),
        ("/v1/responses", {"instructions": "sys", "input": "hello"}, "system: sys\nuser: hello\n"),
        (
            "/v1/responses",
            {
                "input": [
                    {"role": "user", "content": [{"type": "input_text", "text": "q"}]},
                    {"type": "function_call_output", "output": "out"},
                ]
            },
            "user: q\nfunction_call_output: out\n",
        ),
        ("/v1/completions", {"prompt": "once upon"}, "once upon\n"),
        ("/v1/embeddings", {"input": ["a", "b"]}, "a\nb\n"),
        (
            "/v1/messages",
            {
                "system": [{"type": "text", "text": "sys"}],
                "messages": [{"role": "user", "content": "hey"}],
            },
            "system: sys\nuser: hey\n",
        ),
        (CHAT, None, ""),
    ],
)
def test_request_text(endpoint: str, body: object, text: str) -> None:
    assert request_text(body, endpoint).text() == text


def sse(*objs: object) -> bytes:
    return b"".join(b"data: " + orjson.dumps(o) + b"\n\n" for o in objs) + b"data: [DONE]\n\n"


CHAT_STREAM = sse(
    {"choices": [{"delta": {"role": "assistant", "content": "Hel"}}]},
    {"choices": [{"delta": {"content": "lo, a@b.io"}, "finish_reason": None}]},
    {"choices": [{"delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3}},
)


@pytest.mark.parametrize("size", [1, 3, 17, 10_000])
def test_collector_accumulates_stream_deltas_in_any_split(size: int) -> None:
    c = ResponseTextCollector()
    for i in range(0, len(CHAT_STREAM), size):
        c.feed_chunk(CHAT_STREAM[i : i + size])
    assert c.text() == "Hello, a@b.io"


def test_collector_anthropic_and_responses_streams() -> None:
    c = ResponseTextCollector()
    c.feed_chunk(
        b'event: content_block_delta\ndata: {"type":"content_block_delta",'
        b'"delta":{"type":"text_delta","text":"Hi "}}\n\n'
        b'data: {"type":"response.output_text.delta","delta":"there"}\n\n'
    )
    assert c.text() == "Hi there"


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"choices": [{"message": {"role": "assistant", "content": "ok"}}]}, "ok"),
        ({"choices": [{"text": "done"}]}, "done"),
        ({"type": "message", "content": [{"type": "text", "text": "claude says"}]}, "claude says"),
        (
            {
                "object": "response",
                "output": [
                    {"type": "message", "content": [{"type": "output_text", "text": "resp"}]}
                ],
            },
            "resp",
        ),
        ({"error": {"message": "nope"}}, ""),
    ],
)
def test_collector_whole_json(body: dict, text: str) -> None:
    c = ResponseTextCollector()
    c.feed_json(body)
    assert c.text() == text


@pytest.mark.parametrize(
    "secret",
    ["jane.doe@example.com", "4539 1488 0343 6467", "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz"],
)
@pytest.mark.parametrize("cut_at", [3, 10, 15])
def test_long_text_is_bounded_and_a_secret_split_by_the_bound_is_dropped(
    secret: str, cut_at: int
) -> None:
    c = ResponseTextCollector()
    # The raw bound lands `cut_at` characters into the secret. The filler is
    # card numbers, so redaction shrinks it and the cut would land inside the
    # kept bytes, not be cut off by the byte bound anyway.
    size = MAX_TEXT_BYTES + GUARD_CHARS - cut_at - 1
    card = "4111111111111111 "
    filler = card * (size // len(card)) + "x" * (size % len(card))
    c.feed_json({"choices": [{"text": f"{filler} {secret} and more"}]})
    assert c.bounded().cut
    pt = build_prompt_text(Redactor(), request_text(None), c.bounded(), 0)
    assert pt.response_text.endswith(TRUNCATED_MARKER)
    assert len(pt.response_text.encode()) <= MAX_TEXT_BYTES
    assert secret[:cut_at] not in pt.response_text
    assert pt.redactions["CARD"] == size // len(card)


def test_truncation_counts_utf8_bytes() -> None:
    c = ResponseTextCollector()
    c.feed_json({"choices": [{"text": "é" * MAX_TEXT_BYTES}]})  # 2 bytes each
    pt = build_prompt_text(Redactor(), request_text(None), c.bounded(), 0)
    assert len(pt.response_text.encode()) <= MAX_TEXT_BYTES
    assert pt.response_text.endswith(TRUNCATED_MARKER)


def test_unterminated_private_key_at_the_cut_is_redacted() -> None:
    c = ResponseTextCollector()
    key = "-----BEGIN PRIVATE KEY-----\n" + "QUJD" * 100_000
    c.feed_json({"choices": [{"text": "here: " + key}]})
    pt = build_prompt_text(Redactor(), request_text(None), c.bounded(), 0)
    assert pt.response_text.startswith("here: [PRIVATE_KEY]")
    assert "QUJD" not in pt.response_text


# -- per request -------------------------------------------------------------------------

BODY = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You help."},
        {"role": "user", "content": "mail jane@corp.example, card 4111 1111 1111 1111"},
    ],
    "max_tokens": 100,
    "tools": [{"type": "function", "function": {"name": "f"}}],
}
RESPONSE = {
    "choices": [{"message": {"content": "Reply to bob@corp.example"}, "finish_reason": "stop"}]
}


def full_policy(retention_s: int = DAY, rules=()) -> PromptLoggingPolicy:
    return compile_prompt_logging([pol("a", P.PROMPT_LOGGING_FULL, retention_s, rules=rules)])


def captured(policy: PromptLoggingPolicy, prompt_tokens: int | None = 30) -> usage_pb2.UsageEvent:
    cap = PromptCapture(policy, CHAT)
    raw = orjson.dumps(BODY)
    cap.request(orjson.loads(raw), len(raw))
    cap.response_body(555, RESPONSE)
    ev = usage_pb2.UsageEvent()
    cap.fill(ev, prompt_tokens, 1_000.5)
    return ev


def test_metadata_mode() -> None:
    ev = captured(DEFAULT_PROMPT_LOGGING)
    assert ev.prompt == usage_pb2.PromptMetadata(
        message_count=2,
        context_tokens=30,
        requested_max_tokens=100,
        tool_count=1,
        request_bytes=len(orjson.dumps(BODY)),
        response_bytes=555,
        finish_reason="stop",
    )
    assert not ev.HasField("prompt_text")


def test_off_mode_keeps_sizes_and_counts_only() -> None:
    ev = captured(compile_prompt_logging([pol("a", P.PROMPT_LOGGING_OFF)]))
    assert ev.HasField("prompt")
    assert ev.prompt.message_count == 2 and ev.prompt.response_bytes == 555
    assert ev.prompt.finish_reason == ""
    assert not ev.HasField("prompt_text")


def test_full_mode_redacts_and_sets_expiry() -> None:
    ev = captured(full_policy(DAY))
    pt = ev.prompt_text
    assert pt.request_text == "system: You help.\nuser: mail [EMAIL], card [CARD]\n"
    assert pt.response_text == "Reply to [EMAIL]"
    assert dict(pt.redactions) == {"EMAIL": 2, "CARD": 1}
    assert pt.expire_time.ToNanoseconds() == int((1_000.5 + DAY) * 1e9)
    assert ev.prompt.finish_reason == "stop"


def test_context_tokens_estimated_without_usage() -> None:
    ev = captured(DEFAULT_PROMPT_LOGGING, prompt_tokens=None)
    assert ev.prompt.context_tokens > 0


def test_seal_is_used_by_fill() -> None:
    cap = PromptCapture(full_policy(), CHAT)
    cap.request(BODY, 10)
    cap.seal(50.0)
    ev = usage_pb2.UsageEvent()
    cap.fill(ev, None, 99.0)
    assert ev.prompt_text.expire_time.seconds == 50 + DAY


# -- nothing unredacted reaches disk ----------------------------------------------------

EMAIL = "ceo.private@bigcorp.example"
CARD = "4539 1488 0343 6467"  # Luhn-valid
API_KEY = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAx7fJ3kP9qWm2vLrT8yZbN4cD5eF6gH7iJ8kL9mN0oP1qR2sT\n"
    "3uV4wX5yZ6aB7cD8eF9gH0iJ1kL2mN3oP4qR5sT6uV7wX8yZ9aB0cD1eF2gH3iJ4\n"
    "-----END RSA PRIVATE KEY-----"
)
KEY_BODY = "MIIEowIBAAKCAQEAx7fJ3kP9qWm2vLrT8yZbN4cD5eF6gH7iJ8kL9mN0oP1qR2sT"
SECRETS = [EMAIL, CARD, CARD.replace(" ", ""), API_KEY, KEY_BODY, "BEGIN RSA PRIVATE KEY"]
STREAM_REPLY = sse(
    {"choices": [{"delta": {"content": f"Sure. Your key {API_KEY[:20]}"}}]},
    {"choices": [{"delta": {"content": f"{API_KEY[20:]} and mail {EMAIL}."}}]},
    {"choices": [{"delta": {}, "finish_reason": "stop"}]},
)


@pytest.mark.parametrize("split", [1, 7, 100_000])
def test_full_logging_never_spools_unredacted_text(tmp_path: Path, split: int) -> None:
    """FULL logging of a prompt with secrets, through the settlement's event, into the
    real spool: the bytes on disk hold none of the secrets."""
    body = {
        "model": "gpt-4o",
        "stream": True,
        "messages": [
            {"role": "user", "content": f"My email is {EMAIL} and my card is {CARD}."},
            {"role": "user", "content": f"Debug this: OPENAI_API_KEY={API_KEY}\n{PRIVATE_KEY}"},
        ],
    }
    raw = orjson.dumps(body)
    event_id = "0190f0e0-0000-7000-8000-000000000001"
    rec = RequestRecord(event_id, event_id, CHAT, 1_700_000_000 * 10**9, 0.0, "127.0.0.1")
    rec.prompt = PromptCapture(full_policy(), CHAT)
    rec.prompt.request(orjson.loads(raw), len(raw))
    for i in range(0, len(STREAM_REPLY), split):
        rec.prompt.stream_chunk(STREAM_REPLY[i : i + split])
    rec.usage = Usage(prompt_tokens=40, completion_tokens=12, total_tokens=52)
    ev = settle(rec, 1.0, "dp-1", None)
    # The text was there, redacted, not dropped.
    assert "[EMAIL]" in ev.prompt_text.request_text
    assert "[PRIVATE_KEY]" in ev.prompt_text.request_text
    assert "[API_KEY]" in ev.prompt_text.response_text
    assert ev.prompt.finish_reason == "stop"

    spool = Spool(tmp_path / "spool")
    spool.recover()
    spool.append([usage_service_pb2.ReportUsageRequest(batch_id="b1", events=[ev])])
    spool.close()
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "spool").iterdir())
    assert b"[CARD]" in on_disk
    for secret in SECRETS:
        assert secret.encode() not in on_disk, secret
