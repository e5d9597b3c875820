"""Errors: an unknown model is the gateway's 404; an upstream error is passed through as the
provider sent it; an upstream that does not answer in time is a 504. Every forwarded request
is still recorded as a usage event with the status the client got (DESIGN invariant 1)."""

from __future__ import annotations

import json
import time

import openai
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import provider_pb2
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import (
    MODEL,
    HttpResponse,
    Tenant,
    chat_body,
    http_request,
    openai_client,
    wait_for_requests,
    wait_key_accepted,
    wait_until,
)
from tests.support.processes import DataPlane, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

UPSTREAM_TIMEOUT_S = 0.5
MAX_BODY_BYTES = 65536


@pytest.fixture(scope="module")
def short_timeout_dataplane(stack: Stack, tenant: Tenant) -> DataPlane:
    """A second data plane on the shared control plane with tight upstream timeouts and a
    small body limit."""
    dp = stack.start_dataplane(
        "dp-short-timeout",
        f"--upstream-first-byte-timeout={UPSTREAM_TIMEOUT_S}",
        f"--upstream-between-chunks-timeout={UPSTREAM_TIMEOUT_S}",
        f"--max-body-bytes={MAX_BODY_BYTES}",
    )
    wait_key_accepted(dp.url, tenant.key_text)
    return dp


def post_chat(dataplane_url: str, key_text: str, body: dict) -> HttpResponse:
    return http_request(
        "POST",
        f"{dataplane_url}/v1/chat/completions",
        body,
        headers={"authorization": f"Bearer {key_text}"},
    )


def sse_payloads(body: bytes) -> list[str]:
    return [
        line.removeprefix("data:").strip()
        for line in body.decode().splitlines()
        if line.startswith("data:")
    ]


def test_unknown_model_is_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="no-such-model-anywhere", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_upstream_error_is_passed_through(
    stack: Stack,
    tenant: Tenant,
    client: openai.OpenAI,
    status: int,
    error_class: type[openai.APIStatusError],
) -> None:
    body = chat_body(f"fail please mock:status={status}")
    direct = http_request("POST", f"{stack.mock.url}/v1/chat/completions", body)
    assert direct.status == status

    via_gateway = post_chat(stack.dp.url, tenant.key_text, body)
    assert via_gateway.status == status
    assert via_gateway.json() == direct.json()

    with pytest.raises(error_class) as caught:
        client.chat.completions.with_raw_response.create(model=MODEL, messages=body["messages"])
    assert caught.value.status_code == status

    request_ids = [
        via_gateway.headers.get("x-request-id", ""),
        caught.value.response.headers.get("x-request-id", ""),
    ]
    events = wait_for_requests(stack.admin, tenant.workspace, request_ids)
    for event in events.values():
        assert event.http_status == status
        assert event.error_type != "", "an upstream error recorded as a success"
        assert event.key == tenant.key_name
        assert event.provider == tenant.provider


def test_upstream_timeout_is_504(
    stack: Stack, tenant: Tenant, short_timeout_dataplane: DataPlane
) -> None:
    with openai_client(short_timeout_dataplane.url, tenant.key_text) as client:
        start = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "slow mock:delay_ms=5000"}]
            )
        elapsed = time.monotonic() - start
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert elapsed < 4, f"the first-byte timeout did not cut the request ({elapsed:.1f}s)"

    request_id = caught.value.response.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.http_status == 504
    assert event.error_type == "upstream_timeout"
    assert event.dataplane_id == short_timeout_dataplane.node_id


def test_stream_that_stalls_ends_with_an_sse_error_event(
    stack: Stack, tenant: Tenant, short_timeout_dataplane: DataPlane
) -> None:
    body = chat_body("stall please mock:stall_after=3", stream=True)
    start = time.monotonic()
    response = post_chat(short_timeout_dataplane.url, tenant.key_text, body)
    assert time.monotonic() - start < 4, "the between-chunks timeout did not end the stream"
    assert response.status == 200  # the status line went out before the stall
    payloads = sse_payloads(response.body)
    assert len(payloads) >= 2, payloads
    assert json.loads(payloads[-1])["error"]["code"] == "upstream_timeout", payloads[-1]
    assert "[DONE]" not in payloads

    request_id = response.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.error_type == "upstream_timeout"
    assert event.stream is True


def test_error_event_inside_a_stream_is_passed_on_and_recorded(
    stack: Stack, tenant: Tenant
) -> None:
    body = chat_body("fail halfway mock:error_in_stream", stream=True)
    response = post_chat(stack.dp.url, tenant.key_text, body)
    assert response.status == 200
    payloads = sse_payloads(response.body)
    errors = [json.loads(p)["error"] for p in payloads if p != "[DONE]" and "error" in p]
    assert errors and errors[0]["message"] == "mock error_in_stream", payloads

    request_id = response.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.error_type != "", "a stream that failed upstream recorded as a success"


def test_unreachable_upstream_is_502(stack: Stack, tenant: Tenant) -> None:
    stack.admin.CreateProviderCredential(
        admin_pb.CreateProviderCredentialRequest(
            parent=tenant.workspace,
            provider_id="dead",
            provider_credential=provider_pb2.ProviderCredential(
                kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                base_url=f"http://127.0.0.1:{free_port()}/v1",
                models=["dead-*"],
                api_key="sk-dead-provider-key",
                allow_private_network=True,
            ),
        )
    )
    body = {**chat_body("anyone there?"), "model": "dead-model"}
    response = wait_until(
        lambda: (r := post_chat(stack.dp.url, tenant.key_text, body)).status != 404 and r,
        timeout=10,
        message="route to the new provider",
    )
    assert response.status == 502, response.body
    assert set(response.json()["error"]) >= {"message", "type", "param", "code"}

    request_id = response.headers.get("x-request-id", "")
    event = wait_for_requests(stack.admin, tenant.workspace, [request_id])[request_id]
    assert event.http_status == 502
    assert event.provider == f"{tenant.workspace}/providers/dead"


def test_request_too_large_is_413(
    stack: Stack, tenant: Tenant, short_timeout_dataplane: DataPlane
) -> None:
    body = chat_body("x " * MAX_BODY_BYTES)
    response = post_chat(short_timeout_dataplane.url, tenant.key_text, body)
    assert response.status == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not [r for r in mock_requests(stack) if "x x x x" in json.dumps(r.get("body"))]


def mock_requests(stack: Stack) -> list[dict]:
    return http_request("GET", f"{stack.mock.url}/_mock/requests").json()
