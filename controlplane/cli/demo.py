"""The `oggy up --demo` workspace: workspace `demo`, provider `mock`, one gateway key.

Every step is idempotent so a second `oggy up` on the same state dir reuses what is there:
the workspace is kept, the provider is recreated only if the mock moved (there is no
Update RPC for providers), and the stored key is reused while it is still active.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass

import grpc

from controlplane.cli import names
from controlplane.cli.admin_client import AdminClient
from oggy.v1 import admin_service_pb2, key_pb2, provider_pb2, workspace_pb2

WORKSPACE = "workspaces/demo"
PROVIDER = f"{WORKSPACE}/providers/mock"
MODELS = ("gpt-4o-mini", "gpt-4o", "o3-mini")
KEY_DISPLAY_NAME = "oggy up --demo"


@dataclass(frozen=True, slots=True)
class Demo:
    workspace: str
    key_text: str
    models: tuple[str, ...]


def _not_found(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.NOT_FOUND


def ensure_workspace(client: AdminClient) -> None:
    try:
        client.stub.GetWorkspace(admin_service_pb2.GetWorkspaceRequest(name=WORKSPACE))
        return
    except grpc.RpcError as e:
        if not _not_found(e):
            raise
    client.stub.CreateWorkspace(
        admin_service_pb2.CreateWorkspaceRequest(
            workspace_id=names.short_id(WORKSPACE),
            workspace=workspace_pb2.Workspace(display_name="Demo"),
            request_id=str(uuid.uuid4()),
        )
    )


def ensure_provider(client: AdminClient, base_url: str) -> None:
    kind = provider_pb2.ProviderCredential.Kind.KIND_OPENAI_COMPATIBLE
    try:
        current = client.stub.GetProviderCredential(
            admin_service_pb2.GetProviderCredentialRequest(name=PROVIDER)
        ).provider_credential
    except grpc.RpcError as e:
        if not _not_found(e):
            raise
    else:
        if (
            current.base_url == base_url
            and tuple(current.models) == MODELS
            and current.kind == kind
        ):
            return
        client.stub.DeleteProviderCredential(
            admin_service_pb2.DeleteProviderCredentialRequest(name=PROVIDER)
        )
    client.stub.CreateProviderCredential(
        admin_service_pb2.CreateProviderCredentialRequest(
            parent=WORKSPACE,
            provider_id=names.short_id(PROVIDER),
            provider_credential=provider_pb2.ProviderCredential(
                display_name="Mock provider (oggy up --demo)",
                kind=kind,
                base_url=base_url,
                models=MODELS,
                # The mock listens on loopback, which a credential must opt into.
                allow_private_network=True,
                # The mock accepts any key; a random one still exercises the secret path.
                api_key=f"sk-mock-{secrets.token_urlsafe(24)}",
            ),
            request_id=str(uuid.uuid4()),
        )
    )


def _usable(client: AdminClient, key_text: str) -> bool:
    key_id = names.key_id_from_text(key_text) if key_text else None
    if key_id is None:
        return False
    name = f"{WORKSPACE}/keys/{key_id}"
    try:
        key = client.stub.GetGatewayKey(admin_service_pb2.GetGatewayKeyRequest(name=name))
    except grpc.RpcError as e:
        if _not_found(e):
            return False
        raise
    gk = key.gateway_key
    expired = gk.HasField("expire_time") and gk.expire_time.seconds <= time.time()
    return gk.state == key_pb2.GatewayKey.State.STATE_ACTIVE and not expired


def ensure_key(client: AdminClient, stored_key_text: str) -> str:
    """The stored key text if that key is still active, else a new key's text."""
    if _usable(client, stored_key_text):
        return stored_key_text
    response = client.stub.CreateGatewayKey(
        admin_service_pb2.CreateGatewayKeyRequest(
            parent=WORKSPACE,
            gateway_key=key_pb2.GatewayKey(display_name=KEY_DISPLAY_NAME),
            request_id=str(uuid.uuid4()),
        )
    )
    return response.key_text


def ensure_demo(client: AdminClient, mock_base_url: str, stored_key_text: str) -> Demo:
    ensure_workspace(client)
    ensure_provider(client, mock_base_url)
    return Demo(WORKSPACE, ensure_key(client, stored_key_text), MODELS)
