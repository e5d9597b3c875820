"""Route RPCs: a model name → ordered provider targets, one route per model and workspace.

Every target's provider must exist when the route is written: a guard per
provider in the write transaction. `<prefix>index/routes/<workspace>/<sha256(model)>`
makes the model unique within the workspace.
"""

from __future__ import annotations

import hashlib

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.status import grpc_errors
from controlplane.domain import routes, validation
from controlplane.domain.errors import AlreadyExists
from controlplane.store.base import Item
from controlplane.store.txn import Absent, Delete, Op, Put
from oggy.contract.names import Collection, WorkspaceName, parse_child_name
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import route_pb2


class RouteRpcs(ServicerBase):
    def _model_index(self, workspace: WorkspaceName, model: str) -> str:
        digest = hashlib.sha256(model.encode("utf-8")).hexdigest()
        return f"{self._layout.prefix}index/routes/{workspace}/{digest}"

    @grpc_errors
    async def CreateRoute(self, request: pb.CreateRouteRequest, context: Ctx):
        name = self._child(request.parent, Collection.ROUTES, request.route_id, "route_id")
        body = request.route
        providers = routes.validate(body, name.parent)
        rid = validation.request_id(request.request_id)
        index = self._model_index(name.parent, body.model)
        guards = [
            *(self._repo.reference_exists(str(p), "route.targets.provider") for p in providers),
            Guard(
                Absent(index),
                AlreadyExists(f"{name.parent} already has a route for model {body.model!r}"),
            ),
        ]
        created = await self._create_child(
            "CreateRoute",
            name,
            convert.new_route(body, str(name), self._clock()),
            request_id=rid,
            explicit_id=bool(request.route_id),
            render=convert.route_out,
            guards=guards,
            extra_ops=[Put(index, str(name).encode())],
        )
        return pb.CreateRouteResponse(route=convert.route_out(created.item))

    @grpc_errors
    async def GetRoute(self, request: pb.GetRouteRequest, context: Ctx):
        route = await self._get_child(request.name, Collection.ROUTES, convert.route_out)
        return pb.GetRouteResponse(route=route)

    @grpc_errors
    async def ListRoutes(self, request: pb.ListRoutesRequest, context: Ctx):
        routes, token = await self._list_children(request, Collection.ROUTES, convert.route_out)
        return pb.ListRoutesResponse(routes=routes, next_page_token=token)

    @grpc_errors
    async def DeleteRoute(self, request: pb.DeleteRouteRequest, context: Ctx):
        name = parse_child_name(request.name, Collection.ROUTES)

        def drop_index(item: Item) -> list[Op]:
            model = route_pb2.Route.FromString(item.value).model
            return [Delete(self._model_index(name.parent, model))]

        await self._delete(
            "DeleteRoute", str(name), request.etag, convert.route_out, ops_for=drop_index
        )
        return pb.DeleteRouteResponse()
