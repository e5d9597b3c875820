"""A data plane SIGKILLed with requests in flight: the provider was called (and streamed),
so each admitted request gets exactly one usage event after the restart (DESIGN invariant
1), flagged `dataplane_interrupted` with estimated tokens, from the admission notes the
data plane journals before going upstream; requests that finished keep their one event.
Own stack, since it kills a data plane."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

import pytest

from dataplane.core.estimate import prompt_tokens
from dataplane.tokens import load_encoding
from tests.e2e.accounting.support import (
    AcctTenant,
    create_acct_tenant,
    register,
    wait_all_once,
)
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import chat_body, http_request, wait_key_accepted

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

STREAMS = 20
STALLED = 3  # non-streamed requests the provider is still thinking about
WORDS_BEFORE_STALL = 10
# Longer than the data plane's progress interval (inflight.PROGRESS_INTERVAL_S), so a
# progress note (prompt counted, chunks relayed) is journaled before the kill.
SETTLE_S = 2.5


@pytest.fixture(scope="module")
def istack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("acct-interrupted")
    yield stack
    stack.stop()


@pytest.fixture
def tenant(istack: Stack, secret_registry: dict[str, str]) -> AcctTenant:
    t = create_acct_tenant(
        istack.admin, istack.mock.url, istack.dp.url, prefix="intr", all_kinds=False
    )
    return register(secret_registry, t)


class InFlight(threading.Thread):
    """One request held open by the provider; `relayed` is set once the client has the
    first WORDS_BEFORE_STALL chunks (streams) or the request is sent (non-streams)."""

    def __init__(self, url: str, tenant: AcctTenant, request_id: str, text: str, stream: bool):
        super().__init__(daemon=True)
        self.url, self.tenant, self.request_id = url, tenant, request_id
        self.body = chat_body(text, stream=stream)
        self.stream = stream
        self.relayed = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=json.dumps(self.body),
                headers={**self.tenant.bearer, "x-request-id": self.request_id},
            )
            if not self.stream:
                self.relayed.set()
                conn.getresponse().read()  # never comes: the data plane dies first
                return
            response = conn.getresponse()
            assert response.status == 200, response.read()
            seen = b""
            while seen.count(b"data:") < WORDS_BEFORE_STALL:
                piece = response.read1(4096)
                assert piece, seen[-300:]
                seen += piece
            self.relayed.set()
            response.read()  # the provider stalls; the kill ends this
        except (OSError, http.client.HTTPException):
            pass  # the data plane was killed under us: expected
        except BaseException as e:
            self.error = e
        finally:
            conn.close()


def finished_requests(url: str, tenant: AcctTenant, n: int, tag: str) -> list[str]:
    ids = []
    for i in range(n):
        rid = f"intr-{tag}-{i:02d}"
        resp = http_request(
            "POST",
            f"{url}/v1/chat/completions",
            chat_body(f"done {i} mock:words=5", stream=bool(i % 2)),
            headers={**tenant.bearer, "x-request-id": rid},
        )
        assert resp.status == 200, resp.body
        ids.append(rid)
    return ids


def expected_prompt_tokens(text: str) -> int:
    """The gateway's tokenizer count of a one-message prompt (OpenAI's recipe)."""
    enc = load_encoding("o200k_base")
    messages = [{"role": "user", "content": text}]
    return prompt_tokens(messages, lambda s: len(enc.encode_ordinary(s)))


def test_sigkill_with_requests_in_flight(istack: Stack, tenant: AcctTenant) -> None:
    dp = istack.start_dataplane("dp-interrupted")
    wait_key_accepted(dp.url, tenant.key_text)
    done_before = finished_requests(dp.url, tenant, 6, "before")

    stream_text = f"stream on mock:words=40 mock:stall_after={WORDS_BEFORE_STALL}"
    flights = [
        InFlight(dp.url, tenant, f"intr-stream-{i:02d}", stream_text, stream=True)
        for i in range(STREAMS)
    ] + [
        InFlight(dp.url, tenant, f"intr-slow-{i:02d}", "think mock:delay_ms=60000", stream=False)
        for i in range(STALLED)
    ]
    for f in flights:
        f.start()
    for f in flights:
        assert f.relayed.wait(30), f"{f.request_id} never got going"
    time.sleep(SETTLE_S)  # a deliberate wait: the progress notes' interval
    dp.child.kill()
    for f in flights:
        f.join(10)
        assert f.error is None, f.error

    restarted = istack.start_dataplane("dp-interrupted", spool_dir=dp.spool_dir)
    done_after = finished_requests(restarted.url, tenant, 2, "after")
    in_flight = [f.request_id for f in flights]
    events = wait_all_once(
        istack.admin, tenant.workspace, done_before + done_after + in_flight, timeout=30
    )

    for rid in done_before + done_after:
        ev = events[rid]
        assert ev.error_type == "" and ev.token_source == "provider", ev
    streamed_prompt = expected_prompt_tokens(stream_text)
    for f in flights:
        ev = events[f.request_id]
        assert ev.error_type == "dataplane_interrupted", ev
        assert ev.http_status == 499
        assert ev.token_source == "estimated"
        assert ev.workspace == tenant.workspace and ev.key == tenant.key_name
        assert ev.model == "gpt-4o-mini" and ev.provider and ev.stream == f.stream
        assert ev.HasField("cost_micro_usd") and ev.cost_micro_usd > 0
        assert not ev.HasField("prompt_text")
        if f.stream:
            # Counted by the tokenizer (a progress note), one token per relayed chunk.
            assert ev.prompt_tokens == streamed_prompt
            assert ev.completion_tokens == WORDS_BEFORE_STALL
            assert ev.prompt.response_bytes > 0
        else:
            assert ev.prompt_tokens == expected_prompt_tokens(f.body["messages"][0]["content"])
            assert ev.completion_tokens == 0
        assert ev.total_tokens == ev.prompt_tokens + ev.completion_tokens
