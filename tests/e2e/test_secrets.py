"""No secret ever leaks (DESIGN invariant 3): after traffic of every kind (good, streaming,
bad keys, upstream errors, a revoked key, a bad admin token), no provider API key, gateway
key (text or secret part), admin token, node token or KEK appears in any log line of any
process this session started, in the captured test output, in a usage record or in an API
response. Runs last among the e2e modules so it scans the logs of all of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
import openai
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from tests.e2e.conftest import CAPTURED_OUTPUT, Stack, register_key
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    chat_body,
    create_key,
    http_request,
    list_usage,
    openai_client,
    wait_for_requests,
    wait_until,
)
from tests.support.processes import Processes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@dataclass
class Traffic:
    # Every HTTP response body the data plane sent.
    bodies: list[bytes] = field(default_factory=list)
    # x-request-ids of the requests made with the tenant's valid key.
    request_ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def traffic(stack: Stack, tenant: Tenant, secret_registry: dict[str, str]) -> Traffic:
    """A mix of good and bad requests, admin calls with wrong tokens and a revoked key."""
    sent = Traffic()
    chat_url = f"{stack.dp.url}/v1/chat/completions"
    models_url = f"{stack.dp.url}/v1/models"

    def post(key: str, body: dict) -> None:
        response = http_request("POST", chat_url, body, headers=bearer(key))
        sent.bodies.append(response.body)
        if key == tenant.key_text:
            sent.request_ids.append(response.headers.get("x-request-id", ""))

    post(tenant.key_text, chat_body("hello"))
    post(tenant.key_text, chat_body("hello stream", stream=True))
    post(tenant.key_text, chat_body("boom mock:status=500"))
    post(tenant.key_text, chat_body("bad request mock:status=400"))
    post(tenant.key_text, {**chat_body("x"), "model": "no-such-model"})
    post(tenant.key_text + "x", chat_body("extra char"))
    post(tenant.key_text[:-1] + ("A" if tenant.key_text[-1] != "A" else "B"), chat_body("flip"))
    post(tenant.key_secret, chat_body("secret alone"))
    post(tenant.provider_api_key, chat_body("provider key as gateway key"))
    post(stack.cp.admin_token, chat_body("admin token as gateway key"))
    sent.bodies.append(http_request("GET", models_url, headers=bearer(tenant.key_text)).body)
    sent.bodies.append(http_request("GET", f"{stack.dp.url}/metrics").body)

    key_name, key_text = create_key(stack.admin, tenant.workspace, stack.dp.url)
    register_key(secret_registry, key_name, key_text)
    stack.admin.RevokeGatewayKey(admin_pb.RevokeGatewayKeyRequest(name=key_name))
    wait_until(
        lambda: http_request("GET", models_url, headers=bearer(key_text)).status == 401,
        timeout=5,
        message="revoked key refused",
    )
    post(key_text, chat_body("revoked"))

    with openai_client(stack.dp.url, tenant.key_text) as client:
        messages = [{"role": "user", "content": "stream"}]
        list(client.chat.completions.create(model=MODEL, messages=messages, stream=True))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "mock:status=502"}]
            )

    # The admin API refuses tokens that are not the admin token, including other secrets.
    with grpc.insecure_channel(stack.cp.address) as channel:
        stub = admin_grpc.AdminServiceStub(channel)
        for wrong in (tenant.key_text, stack.cp.node_token, "nope"):
            with pytest.raises(grpc.RpcError) as caught:
                stub.ListWorkspaces(
                    admin_pb.ListWorkspacesRequest(),
                    metadata=(("authorization", f"Bearer {wrong}"),),
                    timeout=5,
                )
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert wrong not in (caught.value.details() or "")
    return sent


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def find_secrets(text: str, secrets: dict[str, str]) -> list[str]:
    return sorted(label for label, value in secrets.items() if value and value in text)


def test_secrets_never_in_process_logs(
    traffic: Traffic, processes: Processes, secret_registry: dict[str, str]
) -> None:
    assert secret_registry, "no secrets registered: the fixtures did not run"
    leaks = {}
    for path in processes.log_files():
        found = find_secrets(path.read_text(encoding="utf-8", errors="replace"), secret_registry)
        if found:
            leaks[path.name] = found
    assert not leaks, f"secrets in process logs: {leaks}"
    names = " ".join(path.name for path in processes.log_files())
    for kind in ("etcd", "controlplane", "dataplane", "mock-provider"):
        assert kind in names, f"no {kind} log among {names}"


def test_secrets_never_in_captured_test_output(
    traffic: Traffic, secret_registry: dict[str, str]
) -> None:
    found = find_secrets("\n".join(CAPTURED_OUTPUT), secret_registry)
    assert not found, f"secrets in captured pytest output: {found}"


def test_secrets_never_in_http_responses(traffic: Traffic, secret_registry: dict[str, str]) -> None:
    leaks = [find_secrets(b.decode("utf-8", "replace"), secret_registry) for b in traffic.bodies]
    assert not any(leaks), f"secrets in response bodies: {[x for x in leaks if x]}"


def test_secrets_never_in_usage_records(
    traffic: Traffic, stack: Stack, tenant: Tenant, secret_registry: dict[str, str]
) -> None:
    wait_for_requests(stack.admin, tenant.workspace, traffic.request_ids)
    events = list_usage(stack.admin, tenant.workspace, endpoint=None)
    found = find_secrets("\n".join(str(e) for e in events), secret_registry)
    assert not found, f"secrets in usage events: {found}"


def test_provider_key_is_never_returned_by_the_admin_api(stack: Stack, tenant: Tenant) -> None:
    got = stack.admin.GetProviderCredential(
        admin_pb.GetProviderCredentialRequest(name=tenant.provider)
    ).provider_credential
    listed = stack.admin.ListProviderCredentials(
        admin_pb.ListProviderCredentialsRequest(parent=tenant.workspace)
    ).provider_credentials
    for credential in (got, *listed):
        assert credential.api_key == ""
        assert credential.api_key_hint == tenant.provider_api_key[-4:]
        assert credential.api_key_fingerprint
        assert tenant.provider_api_key not in str(credential)


def test_state_dir_secret_files_are_private(stack: Stack) -> None:
    for name in ("kek", "admin_token", "node_token"):
        mode = (stack.cp.state_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
