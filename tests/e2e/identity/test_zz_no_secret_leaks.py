"""No secret leaks anywhere the identity work could put one (DESIGN invariant 3): after the
identity modules ran (and a round of leak-prone calls of this module's own), no provider
API key, gateway key (text or secret part), HMAC signing secret, admin or node token, KEK
or actor token appears in any process log of the session, in the captured test output, or
in any admin API response these modules received — every response message serialized,
error details included (only the `key_text` a Create/RotateGatewayKey response exists to
show is left out). Named to run last in this folder."""

from __future__ import annotations

import secrets

import grpc
import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import provider_pb2
from tests.e2e.conftest import CAPTURED_OUTPUT, Stack, register_key
from tests.e2e.identity.conftest import (
    SK,
    AdminRecord,
    RecordingAdmin,
    chat_once,
    create_actor,
    mint,
    new_key,
    register_signing_keys,
    seconds,
)
from tests.support.oggy_clients import Tenant, list_usage, wait_for_requests
from tests.support.processes import Processes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def find_secrets(text: str, registry: dict[str, str]) -> list[str]:
    """Labels (never values) of the secrets found in `text`."""
    return sorted(label for label, value in registry.items() if value and value in text)


@pytest.fixture(scope="module")
def leak_prone_calls(
    stack: Stack, radmin: RecordingAdmin, tenant: Tenant, secret_registry: dict[str, str]
) -> None:
    """Admin calls that handle secrets (and fail while holding them), plus data plane
    requests with good and bad actor tokens, all recorded."""
    ws = tenant.workspace
    keys = register_signing_keys(radmin, ws, secret_registry)
    alice = create_actor(radmin, ws, "alice")
    good = mint(keys.hs, keys.hs_kid, ws, alice, app="leak-check")
    forged = mint(secrets.token_bytes(40), keys.hs_kid, ws, alice)
    secret_registry[f"{ws} actor token (valid)"] = good
    secret_registry[f"{ws} actor token (forged)"] = forged
    outcomes = [
        chat_once(stack.dp.url, tenant.key_text, actor=good),
        chat_once(stack.dp.url, tenant.key_text, actor=forged),
    ]
    assert [o.status for o in outcomes] == [200, 401], outcomes

    # Refused calls must not echo what they were given.
    short_hmac = f"short-{secrets.token_hex(6)}"
    secret_registry[f"{ws} refused short hmac secret"] = short_hmac
    bad_provider_key = f"sk-refused-{secrets.token_urlsafe(16)}"
    secret_registry[f"{ws} refused provider api key"] = bad_provider_key
    refused = [
        lambda: radmin.CreateSigningKey(
            admin_pb.CreateSigningKeyRequest(
                parent=ws,
                signing_key_id="too-short",
                signing_key=SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=short_hmac),
            )
        ),
        lambda: radmin.CreateSigningKey(
            admin_pb.CreateSigningKeyRequest(
                parent=ws,
                signing_key_id="hs-with-pem",
                signing_key=SK(
                    algorithm=SK.ALGORITHM_HS256, hmac_secret=short_hmac * 4, public_key_pem="x"
                ),
            )
        ),
        lambda: radmin.CreateProviderCredential(
            admin_pb.CreateProviderCredentialRequest(
                parent=ws,
                provider_id="broken",
                provider_credential=provider_pb2.ProviderCredential(
                    kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                    base_url="not a url",
                    models=["x-*"],
                    api_key=bad_provider_key,
                ),
            )
        ),
    ]
    for call in refused:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Reads of everything secret-bearing: providers, signing keys, keys, audit, usage.
    name, _ = new_key(radmin, stack, ws, secret_registry)
    rotated = radmin.RotateGatewayKey(admin_pb.RotateGatewayKeyRequest(name=name, grace=seconds(1)))
    register_key(secret_registry, name, rotated.key_text)
    radmin.GetProviderCredential(admin_pb.GetProviderCredentialRequest(name=tenant.provider))
    radmin.ListProviderCredentials(admin_pb.ListProviderCredentialsRequest(parent=ws))
    radmin.GetSigningKey(admin_pb.GetSigningKeyRequest(name=f"{ws}/signingKeys/{keys.hs_kid}"))
    radmin.ListSigningKeys(admin_pb.ListSigningKeysRequest(parent=ws))
    radmin.ListGatewayKeys(admin_pb.ListGatewayKeysRequest(parent=ws))
    radmin.GetEffectivePolicy(admin_pb.GetEffectivePolicyRequest(target=name))
    wait_for_requests(radmin, ws, [o.request_id for o in outcomes])
    list_usage(radmin, ws, endpoint=None)
    for parent in ("", ws):
        radmin.ListAuditEvents(admin_pb.ListAuditEventsRequest(parent=parent, page_size=1000))


def test_no_secret_in_any_admin_response(
    leak_prone_calls: None, admin_record: AdminRecord, secret_registry: dict[str, str]
) -> None:
    rpcs = {rpc for rpc, _ in admin_record.entries}
    for expected in ("CreateSigningKey", "RotateGatewayKey", "ListAuditEvents", "ListUsageEvents"):
        assert expected in rpcs, f"no {expected} response was recorded"
    leaks = {}
    for index, (rpc, text) in enumerate(admin_record.entries):
        found = find_secrets(text, secret_registry)
        if found:
            leaks[f"#{index} {rpc}"] = found
    assert not leaks, f"secrets in admin API responses: {leaks}"


def test_no_secret_in_any_process_log(
    leak_prone_calls: None, processes: Processes, secret_registry: dict[str, str]
) -> None:
    files = processes.log_files()
    names = " ".join(path.name for path in files)
    for kind in ("etcd", "controlplane", "dataplane", "mock-provider"):
        assert kind in names, f"no {kind} log among {names}"
    leaks = {}
    for path in files:
        found = find_secrets(path.read_text(encoding="utf-8", errors="replace"), secret_registry)
        if found:
            leaks[path.name] = found
    assert not leaks, f"secrets in process logs: {leaks}"


def test_no_secret_in_captured_test_output(
    leak_prone_calls: None, secret_registry: dict[str, str]
) -> None:
    found = find_secrets("\n".join(CAPTURED_OUTPUT), secret_registry)
    assert not found, f"secrets in captured pytest output: {found}"


def test_the_registry_holds_every_kind_of_secret(
    leak_prone_calls: None, secret_registry: dict[str, str]
) -> None:
    """Guards the scan itself: an empty or partial registry would pass vacuously."""
    labels = " ".join(secret_registry)
    for kind in (
        "admin_token",
        "node_token",
        "provider api key",
        "gateway key secret",
        "HS256 signing secret",
        "kek0",
    ):
        assert kind in labels, f"no {kind!r} registered"
