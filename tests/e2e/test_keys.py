"""Gateway key authentication at the data plane: bad keys get an OpenAI-style 401 that does
not echo them, and a revoked key stops working on a running data plane within a second."""

from __future__ import annotations

import secrets
import string
import time

import openai
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import key_pb2
from tests.e2e.conftest import Stack, register_key
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    chat_body,
    create_key,
    http_request,
    openai_client,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

BASE62 = string.ascii_letters + string.digits
MESSAGES = [{"role": "user", "content": "hi"}]


def random_secret() -> str:
    return "".join(secrets.choice(BASE62) for _ in range(43))


def key_id_of(key_name: str) -> str:
    return key_name.rsplit("/", 1)[1]


BAD_KEY_CASES = [
    "malformed",
    "wrong prefix",
    "unknown key id",
    "wrong secret",
    "truncated secret",
    "secret alone",
]


def bad_keys(tenant: Tenant) -> dict[str, str]:
    real_id = key_id_of(tenant.key_name)
    return {
        "malformed": "not-a-gateway-key",
        "wrong prefix": f"sk_live_{real_id}_{random_secret()}",
        "unknown key id": f"oggy_live_zz{secrets.token_hex(7)}_{random_secret()}",
        "wrong secret": f"oggy_live_{real_id}_{random_secret()}",
        "truncated secret": tenant.key_text[:-1],
        "secret alone": tenant.key_secret,
    }


@pytest.mark.parametrize("case", BAD_KEY_CASES)
def test_bad_key_is_invalid_api_key(stack: Stack, tenant: Tenant, case: str) -> None:
    key = bad_keys(tenant)[case]
    with (
        openai_client(stack.dp.url, key) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    body = caught.value.response.text
    assert key not in body and tenant.key_secret not in body, "error body echoes the key"


def test_missing_key_is_invalid_api_key(stack: Stack) -> None:
    response = http_request("POST", f"{stack.dp.url}/v1/chat/completions", chat_body("hi"))
    assert response.status == 401
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert set(error) >= {"message", "type", "param", "code"}


def test_revoked_key_is_refused_within_a_second(
    stack: Stack, tenant: Tenant, secret_registry: dict[str, str]
) -> None:
    key_name, key_text = create_key(stack.admin, tenant.workspace, stack.dp.url)
    register_key(secret_registry, key_name, key_text)
    with openai_client(stack.dp.url, key_text) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)

        start = time.monotonic()
        revoked = stack.admin.RevokeGatewayKey(admin_pb.RevokeGatewayKeyRequest(name=key_name))
        assert revoked.gateway_key.state == key_pb2.GatewayKey.STATE_REVOKED
        headers = {"authorization": f"Bearer {key_text}"}
        while True:
            response = http_request(
                "POST", f"{stack.dp.url}/v1/chat/completions", chat_body("hi"), headers=headers
            )
            elapsed = time.monotonic() - start
            if response.status == 401 or elapsed > 3:
                break
            time.sleep(0.05)
        assert response.status == 401, f"revoked key still served after {elapsed:.2f}s"
        assert elapsed < 1.0, f"revocation took {elapsed:.2f}s to reach the data plane"
        assert response.json()["error"]["code"] == "key_revoked"

        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
