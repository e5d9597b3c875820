"""Errors: an unknown model is the gateway's 404; an upstream error is passed through as the
provider sent it; an upstream that does not answer in time is a 504. Every forwarded request
is still recorded as a usage event with the status the client got (DESIGN invariant 1)."""

from __future__ import annotations

import time

import openai
import pytest

from tests.e2e.conftest import Stack
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    chat_body,
    http_request,
    openai_client,
    wait_for_requests,
    wait_key_accepted,
)
from tests.support.processes import DataPlane

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

FIRST_BYTE_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def short_timeout_dataplane(stack: Stack, tenant: Tenant) -> DataPlane:
    """A second data plane on the shared control plane whose upstream must answer fast."""
    dp = stack.start_dataplane(
        "dp-short-timeout", "--upstream-first-byte-timeout", str(FIRST_BYTE_TIMEOUT_S)
    )
    wait_key_accepted(dp.url, tenant.key_text)
    return dp


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

    via_gateway = http_request(
        "POST",
        f"{stack.dp.url}/v1/chat/completions",
        body,
        headers={"authorization": f"Bearer {tenant.key_text}"},
    )
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
