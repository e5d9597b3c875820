"""Actor RPCs: create, read, list, delete, and masked updates with etag CAS."""

from __future__ import annotations

from collections.abc import Sequence

from controlplane.api import convert
from controlplane.api.repository import Guard, Mutation
from controlplane.api.resources.base import Ctx, ServicerBase
from controlplane.api.resources.child import ChildResource, serves
from controlplane.api.status import grpc_errors
from controlplane.domain import fieldmask, validation
from controlplane.domain.errors import InvalidArgument
from controlplane.store.base import Item
from oggy.contract.names import ChildName, Collection
from oggy.v1 import actor_pb2
from oggy.v1 import admin_service_pb2 as pb

ACTOR = ChildResource("Actor", "Actors", Collection.ACTORS, convert.actor_out)


@serves(ACTOR, "Get", "List", "Delete")
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
        new = self._new_child(ACTOR, request)
        body = request.actor
        validation.display_name(body.display_name)
        value = convert.new_actor(body, str(new.name), self._clock())
        guards = self._team_guards(body, new.name)
        created = await self._create_child(ACTOR, new, value, guards=guards)
        return ACTOR.reply("Create", created.item)

    @grpc_errors
    async def UpdateActor(self, request: pb.UpdateActorRequest, context: Ctx):
        patch = request.actor

        def mutation(name: ChildName, fields: tuple[str, ...]) -> Mutation:
            if "display_name" in fields:
                validation.display_name(patch.display_name)
            team_guards = self._team_guards(patch, name) if "teams" in fields else []

            def update(item: Item) -> tuple[bytes, Sequence[Guard]] | None:
                stored = convert.actor(item)
                updated = convert.apply_mask(stored, patch, fields)
                if updated == stored:
                    return None
                return updated.SerializeToString(), team_guards

            return update

        return await self._update_child(ACTOR, request, fieldmask.ACTOR_UPDATABLE, mutation)
