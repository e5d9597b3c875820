"""Workspace RPCs."""

from __future__ import annotations

from controlplane.api import convert
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import validation
from controlplane.domain.errors import FailedPrecondition
from oggy.contract.names import WorkspaceName, parse_workspace_name
from oggy.v1 import admin_service_pb2 as pb


class WorkspaceRpcs(ServicerBase):
    @grpc_errors
    async def CreateWorkspace(self, request: pb.CreateWorkspaceRequest, context: Ctx):
        ws_id, explicit = self._resource_id(request.workspace_id, "workspace_id")
        validation.display_name(request.workspace.display_name)
        rid = validation.request_id(request.request_id)
        name = str(WorkspaceName(ws_id))
        created = await self._repo.create(
            method="CreateWorkspace",
            name=name,
            value=convert.new_workspace(request.workspace, name, self._clock()),
            request_id=rid,
            explicit_id=explicit,
            audit=self._audit("CreateWorkspace", name, convert.workspace_out, rid),
        )
        return pb.CreateWorkspaceResponse(workspace=convert.workspace_out(created.item))

    @grpc_errors
    async def GetWorkspace(self, request: pb.GetWorkspaceRequest, context: Ctx):
        name = str(parse_workspace_name(request.name))
        return pb.GetWorkspaceResponse(workspace=convert.workspace_out(await self._repo.get(name)))

    @grpc_errors
    async def ListWorkspaces(self, request: pb.ListWorkspacesRequest, context: Ctx):
        items, token = await self._repo.list(
            "workspaces/", request.page_size, request.page_token, depth=1
        )
        return pb.ListWorkspacesResponse(
            workspaces=[convert.workspace_out(i) for i in items], next_page_token=token
        )

    @grpc_errors
    async def DeleteWorkspace(self, request: pb.DeleteWorkspaceRequest, context: Ctx):
        workspace = parse_workspace_name(request.name)
        # Deleting children implicitly would revoke keys by accident; make it explicit.
        guard = self._repo.no_children(
            workspace.children_prefix,
            FailedPrecondition(f"{workspace} still has resources (keys, actors, providers, ...)"),
        )
        name = str(workspace)
        await self._delete(
            "DeleteWorkspace", name, request.etag, convert.workspace_out, guards=[guard]
        )
        return pb.DeleteWorkspaceResponse()
