"""No usage lost, none counted twice, under faults (DESIGN invariant 1), counted by
x-request-id against what the clients got back:
- a data plane SIGKILLed under load and restarted on the same spool;
- the control plane SIGKILLed under load, kept down 30 s, restarted on the same port and
  state;
- an upstream that stalls, errors or drops the TCP connection mid-stream: one event with
  the partial (estimated) usage and the error type.
The PostgreSQL usage-store outage lives in test_postgres.py. This module has its own stack,
since it kills processes."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from controlplane.devtools import mock_script
from dataplane.tokens import load_encoding
from tests.e2e.accounting.support import (
    CHAT_MODEL,
    AcctTenant,
    Kind,
    Load,
    create_acct_tenant,
    create_provider,
    register,
    request_id_counts,
    wait_all_once,
)
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import (
    WaitTimeout,
    chat_body,
    create_key,
    http_request,
    wait_for_requests,
    wait_key_accepted,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

# How long the control plane stays down under load.
CP_OUTAGE_S = 30.0


@pytest.fixture(scope="module")
def fstack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("acct-faults")
    yield stack
    stack.stop()


@pytest.fixture
def tenant(fstack: Stack, secret_registry: dict[str, str]) -> AcctTenant:
    fstack.ensure_control_plane()
    t = create_acct_tenant(
        fstack.admin, fstack.mock.url, fstack.dp.url, prefix="faults", all_kinds=False
    )
    return register(secret_registry, t)


def test_data_plane_sigkill_under_load(fstack: Stack, tenant: AcctTenant) -> None:
    dp = fstack.start_dataplane("dp-kill")
    wait_key_accepted(dp.url, tenant.key_text)
    current = {"url": dp.url}
    with Load(
        lambda: current["url"], tenant.key_text, workers=4, total=200, tag="kill", pause=0.04
    ) as load:
        # ~1 s of load first, so the kill lands in steady state rather than at start-up.
        load.wait_answered(100, timeout=60)
        dp.child.kill()
        before_kill = set(load.result.answered)
        restarted = fstack.start_dataplane("dp-kill", spool_dir=dp.spool_dir)
        current["url"] = restarted.url
        load.wait_answered(200, timeout=90)
    r = load.result
    assert r.sent == 200, r
    got_answer = r.answered + [rid for _, rid in r.other_status if rid]
    try:
        # Requests cut off by the kill may or may not have an event; never two.
        wait_all_once(fstack.admin, tenant.workspace, got_answer, timeout=20)
    except WaitTimeout as e:
        counts = request_id_counts(fstack.admin, tenant.workspace)
        lost = set(got_answer) - set(counts)
        dupes = sum(1 for n in counts.values() if n > 1)
        raise AssertionError(
            f"{len(lost)} answered requests have no usage event: {len(lost & before_kill)} of "
            f"the {len(before_kill)} answered before the SIGKILL, {len(lost - before_kill)} "
            f"answered later; {dupes} request ids with more than one event ({e})"
        ) from None


def test_control_plane_down_under_load(fstack: Stack, tenant: AcctTenant) -> None:
    with Load(lambda: fstack.dp.url, tenant.key_text, workers=3, tag="cpdown", pause=0.02) as load:
        load.wait_answered(20, timeout=30)
        fstack.cp.child.kill()
        time.sleep(CP_OUTAGE_S)  # a deliberate outage length, not a wait for a condition
        during = len(load.result.answered)
        fstack.restart_control_plane()
        load.wait_answered(during + 20, timeout=30)
    r = load.result
    assert r.failed == 0 and not r.other_status, "the data plane stopped serving"
    assert during >= 40, f"only {during} requests answered while the control plane was down"
    wait_all_once(fstack.admin, tenant.workspace, r.answered, timeout=30)


# ------------------------------------------------------------------ upstream mid-stream


def estimated_completion(words: int) -> int:
    """o200k tokens of the first `words` words the mock streams."""
    enc = load_encoding("o200k_base")
    return len(enc.encode_ordinary(" ".join(mock_script.reply_words(words))))


@pytest.fixture(scope="module")
def quick_dp(fstack: Stack) -> str:
    """A data plane that gives up on a silent upstream after 1 s."""
    return fstack.start_dataplane("dp-quick", "--upstream-between-chunks-timeout=1").url


def stream_once(url: str, tenant: AcctTenant, text: str) -> tuple[bytes, str]:
    resp = http_request(
        "POST",
        f"{url}/v1/chat/completions",
        chat_body(text, stream=True),
        headers=tenant.bearer,
    )
    assert resp.status == 200, resp.body
    return resp.body, resp.headers.get("x-request-id", "")


def test_upstream_stall_mid_stream(fstack: Stack, tenant: AcctTenant, quick_dp: str) -> None:
    wait_key_accepted(quick_dp, tenant.key_text)
    body, rid = stream_once(quick_dp, tenant, "go on mock:words=40 mock:stall_after=10")
    assert b"upstream_timeout" in body, body[-300:]
    ev = wait_all_once(fstack.admin, tenant.workspace, [rid])[rid]
    assert ev.error_type == "upstream_timeout"
    assert ev.http_status == 504
    assert ev.token_source == "estimated"
    assert ev.completion_tokens == estimated_completion(10)
    assert ev.prompt_tokens > 0 and ev.total_tokens == ev.prompt_tokens + ev.completion_tokens
    assert ev.HasField("cost_micro_usd")
    assert [a.error_type for a in ev.attempts] == ["upstream_timeout"]


def test_upstream_error_event_mid_stream(fstack: Stack, tenant: AcctTenant) -> None:
    body, rid = stream_once(fstack.dp.url, tenant, "go on mock:words=40 mock:error_in_stream")
    assert b"mock error_in_stream" in body
    ev = wait_all_once(fstack.admin, tenant.workspace, [rid])[rid]
    assert ev.error_type, "a stream that ended in an error event recorded no error type"
    assert ev.token_source == "estimated"
    assert ev.completion_tokens == estimated_completion(2)  # the mock errs after 2 words


class DroppingUpstream:
    """An OpenAI-style upstream that streams `words` SSE chunks of a chat completion and then
    aborts the TCP connection (no chunked terminator, no [DONE])."""

    def __init__(self, words: int) -> None:
        self.words = words
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self.loop
        ).result(5)
        self.server = server
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\nx-request-id: drop-1\r\n\r\n"
            )
            for i, word in enumerate(mock_script.reply_words(self.words)):
                chunk = {
                    "id": "chatcmpl-drop",
                    "object": "chat.completion.chunk",
                    "model": CHAT_MODEL,
                    "choices": [{"index": 0, "delta": {"content": (" " if i else "") + word}}],
                }
                data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                await writer.drain()
                await asyncio.sleep(0.005)
        finally:
            writer.transport.abort()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_upstream_connection_drops_mid_stream(
    fstack: Stack, secret_registry: dict[str, str]
) -> None:
    fstack.ensure_control_plane()
    upstream = DroppingUpstream(words=7)
    try:
        tenant = create_acct_tenant(
            fstack.admin, fstack.mock.url, fstack.dp.url, prefix="drop", all_kinds=False
        )
        register(secret_registry, tenant)
        dropper, api_key = create_provider(
            fstack.admin,
            tenant.workspace,
            "dropper",
            Kind.KIND_OPENAI_COMPATIBLE,
            upstream.url,
            ["drop-*"],
        )
        secret_registry[f"{dropper} provider api key"] = api_key
        key_name, key_text = create_key(fstack.admin, tenant.workspace, fstack.dp.url)
        secret_registry[f"{key_name} gateway key text"] = key_text
        resp = http_request(
            "POST",
            f"{fstack.dp.url}/v1/chat/completions",
            {**chat_body("drop me", stream=True), "model": "drop-model"},
            headers={"authorization": f"Bearer {key_text}"},
        )
        assert resp.status == 200, resp.body
        assert b"upstream_unavailable" in resp.body, resp.body[-300:]
        rid = resp.headers.get("x-request-id", "")
        ev = wait_for_requests(fstack.admin, tenant.workspace, [rid])[rid]
    finally:
        upstream.close()
    assert (ev.provider, ev.model) == (dropper, "drop-model")
    assert (ev.http_status, ev.error_type) == (502, "upstream_unavailable")
    assert ev.token_source == "estimated"
    assert ev.completion_tokens == estimated_completion(7)
    assert ev.upstream_request_id == "drop-1"
    wait_all_once(fstack.admin, tenant.workspace, [rid])
