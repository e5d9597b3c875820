"""Actor RPCs: create, read, list, delete, and masked updates with etag CAS."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.api import convert
from controlplane.api.repository import Guard
from controlplane.api.resources.base import Ctx, ServicerBase, masked_fields
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.contract.names import ChildName, Collection, parse_child_name
from oggy.v1 import actor_pb2
from oggy.v1 import admin_service_pb2 as pb


class ActorRpcs(ServicerBase):
    def _team_guards(self, actor: actor_pb2.Actor, name: ChildName) -> list[Guard]:
        guards = []
        for team in dict.fromkeys(actor.teams):
            if team == str(name):
                raise InvalidArgument("actor.teams must not name the actor itself")
            guards.append(
                self._same_workspace_ref(team, Collection.ACTORS, name.parent, "actor.teams")
            )
        return guards

    @grpc_errors
    async def CreateActor(self, request: pb.CreateActorRequest, context: Ctx):
        name = self._child(request.parent, Collection.ACTORS, request.actor_id, "actor_id")
        body = request.actor
        validation.display_name(body.display_name)
        rid = validation.request_id(request.request_id)
        created = await self._create_child(
            "CreateActor",
            name,
            convert.new_actor(body, str(name), self._clock()),
            request_id=rid,
            explicit_id=bool(request.actor_id),
            render=convert.actor_out,
            guards=self._team_guards(body, name),
        )
        return pb.CreateActorResponse(actor=convert.actor_out(created.item))

    @grpc_errors
    async def GetActor(self, request: pb.GetActorRequest, context: Ctx):
        actor = await self._get_child(request.name, Collection.ACTORS, convert.actor_out)
        return pb.GetActorResponse(actor=actor)

    @grpc_errors
    async def ListActors(self, request: pb.ListActorsRequest, context: Ctx):
        actors, token = await self._list_children(request, Collection.ACTORS, convert.actor_out)
        return pb.ListActorsResponse(actors=actors, next_page_token=token)

    @grpc_errors
    async def DeleteActor(self, request: pb.DeleteActorRequest, context: Ctx):
        name = str(parse_child_name(request.name, Collection.ACTORS))
        await self._delete("DeleteActor", name, request.etag, convert.actor_out)
        return pb.DeleteActorResponse()

    @grpc_errors
    async def UpdateActor(self, request: pb.UpdateActorRequest, context: Ctx):
        name = parse_child_name(request.actor.name, Collection.ACTORS, "actor.name")
        fields = masked_fields(request.update_mask, request.actor, fieldmask.ACTOR_UPDATABLE)
        if "display_name" in fields:
            validation.display_name(request.actor.display_name)
        team_guards = self._team_guards(request.actor, name) if "teams" in fields else []

        def update(item: Item) -> tuple[bytes, Sequence[Guard]] | None:
            stored = convert.actor(item)
            updated = convert.apply_mask(stored, request.actor, fields)
            if updated == stored:
                return None
            return updated.SerializeToString(), team_guards

        item = await self._update(
            "UpdateActor", str(name), request.actor.etag, update, convert.actor_out
        )
        return pb.UpdateActorResponse(actor=convert.actor_out(item))
