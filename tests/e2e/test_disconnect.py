"""A client that hangs up mid-stream is still metered: the data plane records a usage event
with status 499 / `client_disconnected` and a token count (DESIGN invariants 1 and 7)."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import urllib.parse

import pytest

from tests.e2e.conftest import Stack
from tests.support.oggy_clients import Tenant, chat_body, wait_for_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def read_some_then_hang_up(url: str, key_text: str, body: dict, chunks: int) -> str:
    """POST a streaming request, read `chunks` reads of the SSE body, close the socket;
    returns the response's x-request-id."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=json.dumps(body),
            headers={"authorization": f"Bearer {key_text}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        assert response.status == 200, response.read()
        received = b""
        for _ in range(chunks):
            received += response.read1(512)
        assert received.startswith(b"data:"), received[:200]
        request_id = response.getheader("x-request-id", "")
        # Linger 0: close() resets the connection at once, like a client that crashed.
        assert conn.sock is not None
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        response.close()
        return request_id
    finally:
        conn.close()


@pytest.mark.parametrize("include_usage", [False, True])
def test_client_disconnect_mid_stream_is_recorded(
    stack: Stack, tenant: Tenant, include_usage: bool
) -> None:
    body = chat_body("tell me everything mock:words=2000", stream=True)
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    request_id = read_some_then_hang_up(stack.dp.url, tenant.key_text, body, chunks=3)

    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.http_status == 499
    assert event.error_type == "client_disconnected"
    assert event.stream is True
    assert event.key == tenant.key_name
    assert event.upstream_request_id, "the upstream was called"


def test_abandoned_stream_still_gets_a_token_count(stack: Stack, tenant: Tenant) -> None:
    """DESIGN invariant 7: tiktoken counts when the provider's usage never arrived."""
    body = chat_body("count what you sent mock:words=2000", stream=True)
    request_id = read_some_then_hang_up(stack.dp.url, tenant.key_text, body, chunks=3)

    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.http_status == 499
    assert event.token_source == "estimated", "no token count for a stream the client abandoned"
    assert event.prompt_tokens > 0
    assert event.completion_tokens > 0
    assert event.total_tokens == event.prompt_tokens + event.completion_tokens
