"""An in-memory AdminService for CLI tests: enough behaviour to check what the CLI sends.

It checks the bearer token like the real one (UNAUTHENTICATED otherwise) and records
every request, so tests see names, filters and pages exactly as the CLI built them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc

from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import admin_service_pb2_grpc, key_pb2, usage_pb2

TOKEN = "test-admin-token"


class FakeAdmin(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self) -> None:
        self.workspaces: dict[str, object] = {}
        self.keys: dict[str, key_pb2.GatewayKey] = {}
        self.providers: dict[str, object] = {}
        self.events: list[usage_pb2.UsageEvent] = []
        self.rows: list[usage_pb2.UsageSummaryRow] = []
        self.requests: list[tuple[str, object]] = []
        self._ids = itertools.count(1)

    def _auth(self, method: str, request: object, context: grpc.ServicerContext) -> None:
        metadata = dict(context.invocation_metadata())
        if metadata.get("authorization") != f"Bearer {TOKEN}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid admin token")
        self.requests.append((method, request))

    def CreateWorkspace(self, request, context):
        self._auth("CreateWorkspace", request, context)
        name = f"workspaces/{request.workspace_id}"
        if name in self.workspaces:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
        ws = type(request.workspace)()
        ws.CopyFrom(request.workspace)
        ws.name = name
        self.workspaces[name] = ws
        return pb.CreateWorkspaceResponse(workspace=ws)

    def GetWorkspace(self, request, context):
        self._auth("GetWorkspace", request, context)
        if request.name not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetWorkspaceResponse(workspace=self.workspaces[request.name])

    def ListWorkspaces(self, request, context):
        self._auth("ListWorkspaces", request, context)
        # Two pages, to exercise the CLI's paging.
        items = sorted(self.workspaces.values(), key=lambda w: w.name)
        start = int(request.page_token or 0)
        page = items[start : start + 1]
        more = start + 1 < len(items)
        return pb.ListWorkspacesResponse(
            workspaces=page, next_page_token=str(start + 1) if more else ""
        )

    def CreateGatewayKey(self, request, context):
        self._auth("CreateGatewayKey", request, context)
        if request.parent not in self.workspaces:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.parent} not found")
        key_id = request.key_id or f"k{next(self._ids):015d}"
        key = key_pb2.GatewayKey()
        key.CopyFrom(request.gateway_key)
        key.name = f"{request.parent}/keys/{key_id}"
        key.state = key_pb2.GatewayKey.State.STATE_ACTIVE
        key.key_prefix = f"oggy_live_{key_id}"
        self.keys[key.name] = key
        return pb.CreateGatewayKeyResponse(
            gateway_key=key, key_text=f"oggy_live_{key_id}_{'S' * 43}"
        )

    def GetGatewayKey(self, request, context):
        self._auth("GetGatewayKey", request, context)
        if request.name not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetGatewayKeyResponse(gateway_key=self.keys[request.name])

    def ListGatewayKeys(self, request, context):
        self._auth("ListGatewayKeys", request, context)
        keys = [k for n, k in sorted(self.keys.items()) if n.startswith(request.parent + "/")]
        return pb.ListGatewayKeysResponse(gateway_keys=keys)

    def RevokeGatewayKey(self, request, context):
        self._auth("RevokeGatewayKey", request, context)
        if request.name not in self.keys:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        self.keys[request.name].state = key_pb2.GatewayKey.State.STATE_REVOKED
        return pb.RevokeGatewayKeyResponse(gateway_key=self.keys[request.name])

    def CreateProviderCredential(self, request, context):
        self._auth("CreateProviderCredential", request, context)
        name = f"{request.parent}/providers/{request.provider_id}"
        if name in self.providers:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"{name} already exists")
        cred = type(request.provider_credential)()
        cred.CopyFrom(request.provider_credential)
        cred.name = name
        cred.api_key_hint = cred.api_key[-4:]
        cred.api_key = ""
        self.providers[name] = cred
        return pb.CreateProviderCredentialResponse(provider_credential=cred)

    def GetProviderCredential(self, request, context):
        self._auth("GetProviderCredential", request, context)
        if request.name not in self.providers:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.GetProviderCredentialResponse(provider_credential=self.providers[request.name])

    def ListProviderCredentials(self, request, context):
        self._auth("ListProviderCredentials", request, context)
        return pb.ListProviderCredentialsResponse(
            provider_credentials=list(self.providers.values())
        )

    def DeleteProviderCredential(self, request, context):
        self._auth("DeleteProviderCredential", request, context)
        if self.providers.pop(request.name, None) is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        return pb.DeleteProviderCredentialResponse()

    def ListUsageEvents(self, request, context):
        self._auth("ListUsageEvents", request, context)
        start = int(request.page_token or 0)
        end = start + (request.page_size or 50)
        more = end < len(self.events)
        return pb.ListUsageEventsResponse(
            usage_events=self.events[start:end], next_page_token=str(end) if more else ""
        )

    def SummarizeUsage(self, request, context):
        self._auth("SummarizeUsage", request, context)
        return pb.SummarizeUsageResponse(rows=self.rows)


@contextmanager
def serve_fake_admin() -> Iterator[tuple[FakeAdmin, str]]:
    fake = FakeAdmin()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    admin_service_pb2_grpc.add_AdminServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
