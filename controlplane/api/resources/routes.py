"""Route RPCs: a model name → ordered provider targets, one route per model and workspace.

Every target's provider must exist when the route is written: a guard per
provider in the write transaction. `<prefix>index/routes/<workspace>/<sha256(model)>`
makes the model unique within the workspace.
"""

from __future__ import annotations

import hashlib
from typing import Any

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import routes
from controlplane.domain.errors import AlreadyExists
from controlplane.store.base import Item
from controlplane.store.txn import Absent, Delete, Op, Put
from oggy.contract.names import ChildName, Collection, WorkspaceName
from oggy.v1 import admin_service_pb2 as pb
from oggy.v1 import route_pb2

ROUTE = ChildResource("Route", "Routes", Collection.ROUTES, convert.route_out)


@serves(ROUTE, "Get", "List", "Delete", delete_effects=lambda rpcs, name: rpcs._drop_index(name))
class RouteRpcs(ServicerBase):
    def _model_index(self, workspace: WorkspaceName, model: str) -> str:
        digest = hashlib.sha256(model.encode("utf-8")).hexdigest()
        return f"{self._layout.prefix}index/routes/{workspace}/{digest}"

    def _drop_index(self, name: ChildName) -> dict[str, Any]:
        """Delete's extra op: free the route's model for another route."""

        def drop_index(item: Item) -> list[Op]:
            model = route_pb2.Route.FromString(item.value).model
            return [Delete(self._model_index(name.parent, model))]

        return {"ops_for": drop_index}

    @grpc_errors
    async def CreateRoute(self, request: pb.CreateRouteRequest, context: Ctx):
        new = self._new_child(ROUTE, request)
        workspace, body = new.name.parent, request.route
        providers = routes.validate(body, workspace)
        index = self._model_index(workspace, body.model)
        guards = [
            *(self._repo.reference_exists(str(p), "route.targets.provider") for p in providers),
            Guard(
                Absent(index),
                AlreadyExists(f"{workspace} already has a route for model {body.model!r}"),
            ),
        ]
        value = convert.new_route(body, str(new.name), self._clock())
        created = await self._create_child(
            ROUTE, new, value, guards=guards, extra_ops=[Put(index, str(new.name).encode())]
        )
        return ROUTE.reply("Create", created.item)
