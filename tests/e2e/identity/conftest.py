"""Fixtures of the identity e2e modules (issue 3): signed actors, key lifecycle, network
policy and KEK rotation against real processes, driven with the official `openai` SDK.

Every admin API call these modules make goes through `RecordingAdmin`, which keeps each
response message (and each error's details) as text, so test_zz_no_secret_leaks.py can
check that no secret ever came back in one. The parent conftest's `stack`,
`stack_factory`, `processes` and `secret_registry` are inherited.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx2
import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import duration_pb2

from controlplane.cli import endpoints
from controlplane.cli import main as cli_main
from oggy.actor_token import mint_actor_token
from oggy.v1 import actor_pb2, key_pb2, policy_pb2, signing_key_pb2
from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.conftest import Stack, register_key, register_tenant
from tests.support.oggy_clients import (
    MODEL,
    AdminClient,
    Tenant,
    create_tenant,
    new_id,
    wait_key_accepted,
    wait_until,
)

SK = signing_key_pb2.SigningKey
CONFIG_WAIT_S = 10.0


# --- the admin API, recorded --------------------------------------------------------------


@dataclass
class AdminRecord:
    """Text of every admin response (and error detail) the identity modules received."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:  # never print recorded text in a failure
        return f"AdminRecord({len(self.entries)} entries)"


# Responses that carry a gateway key text by design (shown once): that field alone is
# left out of the scan; every other field of them is scanned.
_SHOWN_ONCE = ("CreateGatewayKey", "RotateGatewayKey")


class RecordingAdmin:
    """An AdminClient whose every response is also kept (serialized) in `record`."""

    def __init__(self, inner: AdminClient, record: AdminRecord) -> None:
        self._inner = inner
        self.record = record
        self.address = inner.address

    def __getattr__(self, rpc: str) -> Callable[..., Any]:
        method = getattr(self._inner, rpc)

        def call(request: Any, **kwargs: Any) -> Any:
            try:
                response = method(request, **kwargs)
            except grpc.RpcError as e:
                self.record.entries.append((rpc, f"{e.code()} {e.details()}"))
                raise
            scanned = response
            if rpc in _SHOWN_ONCE:
                scanned = type(response)()
                scanned.CopyFrom(response)
                scanned.ClearField("key_text")
            self.record.entries.append((rpc, str(scanned)))
            return response

        return call

    def close(self) -> None:
        self._inner.close()


@pytest.fixture(scope="session")
def admin_record() -> AdminRecord:
    return AdminRecord()


@pytest.fixture(scope="session")
def radmin(stack: Stack, admin_record: AdminRecord) -> RecordingAdmin:
    """The shared stack's admin API, recorded."""
    return RecordingAdmin(stack.admin, admin_record)


@pytest.fixture(scope="module")
def tenant(
    stack: Stack,
    radmin: RecordingAdmin,
    secret_registry: dict[str, str],
    request: pytest.FixtureRequest,
) -> Tenant:
    """A fresh workspace per module (as in the parent conftest), created through `radmin`."""
    prefix = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    prefix = "id-" + prefix.removeprefix("test-").strip("-")[:16]
    return register_tenant(
        secret_registry,
        create_tenant(radmin, stack.mock.url, stack.dp.url, prefix=prefix),  # type: ignore[arg-type]
    )


# --- the OpenAI SDK -----------------------------------------------------------------------


def sdk(
    dataplane_url: str,
    key_text: str,
    *,
    actor: str | None = None,
    local_address: str | None = None,
) -> openai.OpenAI:
    """The official client; `actor` goes in `X-Oggy-Actor` on every request,
    `local_address` picks the source address (any of 127.0.0.0/8 works on loopback)."""
    http_client = None
    if local_address is not None:
        http_client = httpx2.Client(transport=httpx2.HTTPTransport(local_address=local_address))
    return openai.OpenAI(
        base_url=f"{dataplane_url}/v1",
        api_key=key_text,
        max_retries=0,
        timeout=30,
        default_headers={"X-Oggy-Actor": actor} if actor is not None else None,
        http_client=http_client,
    )


@dataclass(frozen=True)
class Outcome:
    """How one chat completion ended: status, error code/message, x-request-id."""

    status: int
    code: str
    message: str
    request_id: str


def chat(
    client: openai.OpenAI,
    *,
    model: str = MODEL,
    text: str = "who pays",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Outcome:
    try:
        raw = client.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": text}],
            extra_headers=dict(headers or {}),
            **extra,
        )
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return Outcome(
            e.status_code,
            str(body.get("code") or ""),
            str(body.get("message") or ""),
            e.response.headers.get("x-request-id", ""),
        )
    assert raw.parse().choices[0].message.content
    return Outcome(raw.status_code, "", "", raw.headers.get("x-request-id", ""))


def chat_once(dataplane_url: str, key_text: str, **kwargs: Any) -> Outcome:
    actor = kwargs.pop("actor", None)
    local_address = kwargs.pop("local_address", None)
    with sdk(dataplane_url, key_text, actor=actor, local_address=local_address) as client:
        return chat(client, **kwargs)


def wait_outcome(
    probe: Callable[[], Outcome], want: Callable[[Outcome], bool], what: str
) -> Outcome:
    """Config reaches data planes asynchronously: poll `probe` until `want` holds."""

    def check() -> Outcome | None:
        outcome = probe()
        return outcome if want(outcome) else None

    return wait_until(
        check,
        timeout=CONFIG_WAIT_S,
        interval=0.05,
        message=what,
    )


# --- signing keys and actors --------------------------------------------------------------


def public_pem(private: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class SigningKeys:
    """One key of each algorithm registered in a workspace, with its private half."""

    ed: Ed25519PrivateKey
    es: ec.EllipticCurvePrivateKey
    hs: bytes = field(repr=False)
    ed_kid: str
    es_kid: str
    hs_kid: str

    @property
    def es_public_pem(self) -> str:
        return public_pem(self.es)


def register_signing_keys(
    admin: Any, workspace: str, secret_registry: dict[str, str]
) -> SigningKeys:
    ed = Ed25519PrivateKey.generate()
    es = ec.generate_private_key(ec.SECP256R1())
    hs_text = secrets.token_urlsafe(40)
    secret_registry[f"{workspace} HS256 signing secret"] = hs_text
    keys = SigningKeys(ed, es, hs_text.encode(), "ed-1", "es-1", "hs-1")
    for kid, key in (
        (keys.ed_kid, SK(algorithm=SK.ALGORITHM_EDDSA, public_key_pem=public_pem(ed))),
        (keys.es_kid, SK(algorithm=SK.ALGORITHM_ES256, public_key_pem=public_pem(es))),
        (keys.hs_kid, SK(algorithm=SK.ALGORITHM_HS256, hmac_secret=hs_text)),
    ):
        created = admin.CreateSigningKey(
            admin_pb.CreateSigningKeyRequest(parent=workspace, signing_key_id=kid, signing_key=key)
        ).signing_key
        assert created.name == f"{workspace}/signingKeys/{kid}"
        assert created.hmac_secret == "" and created.fingerprint
    return keys


def create_actor(admin: Any, workspace: str, actor_id: str, **fields: Any) -> str:
    return admin.CreateActor(
        admin_pb.CreateActorRequest(
            parent=workspace, actor_id=actor_id, actor=actor_pb2.Actor(**fields)
        )
    ).actor.name


def new_key(
    admin: Any,
    stack: Stack,
    workspace: str,
    secret_registry: dict[str, str],
    *,
    wait: bool = True,
    **fields: Any,
) -> tuple[str, str]:
    """A gateway key (fields of GatewayKey, e.g. actor=...), registered as a secret; with
    `wait`, returns once the shared data plane accepts it."""
    response = admin.CreateGatewayKey(
        admin_pb.CreateGatewayKeyRequest(
            parent=workspace, gateway_key=key_pb2.GatewayKey(display_name="identity", **fields)
        )
    )
    register_key(secret_registry, response.gateway_key.name, response.key_text)
    if wait:
        wait_key_accepted(stack.dp.url, response.key_text)
    return response.gateway_key.name, response.key_text


def create_policy(admin: Any, workspace: str, **fields: Any) -> policy_pb2.Policy:
    return admin.CreatePolicy(
        admin_pb.CreatePolicyRequest(
            parent=workspace, policy_id=new_id("p"), policy=policy_pb2.Policy(**fields)
        )
    ).policy


def mint(key: Any, kid: str, workspace: str, subject: str, **claims: Any) -> str:
    return mint_actor_token(key, kid=kid, workspace=workspace, subject=subject, **claims)


def oggy_cli(
    stack: Stack,
    radmin: RecordingAdmin,
    workspace: str,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
) -> str:
    """Run `oggy <argv>` in process against the shared stack; its output, recorded in
    `radmin` for the secret scan. Fails the test on a non-zero exit."""
    env = {
        endpoints.ADDRESS_ENV: stack.cp.address,
        endpoints.TOKEN_ENV: stack.cp.admin_token,
        endpoints.WORKSPACE_ENV: workspace,
    }
    capsys.readouterr()
    code = cli_main.run(list(argv), env=env)
    out, err = capsys.readouterr()
    radmin.record.entries.append((f"cli {' '.join(argv[:2])}", out + err))
    assert code == 0, f"oggy {' '.join(argv)} exited {code}: {err[-2000:]}"
    return out


def seconds(value: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(value * 1e9))
    return d


def wait_past(deadline_unix_s: float) -> None:
    """Wait out a deadline the system under test enforces (the one fixed wait allowed)."""
    remaining = deadline_unix_s - time.time()
    if remaining > 0:
        time.sleep(remaining)
