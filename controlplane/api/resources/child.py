"""Workspace child resources (`workspaces/{w}/<collection>/{id}`) described once, and the
Get/List/Delete RPCs every one of them serves the same way, generated from that description."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from controlplane.api.status import grpc_errors
from controlplane.store.base import Item
from oggy.contract.names import ChildName, Collection, parse_child_name
from oggy.v1 import admin_service_pb2 as pb

# What a Delete RPC writes besides removing the resource: `Repository.delete` keywords
# (guards, extra_ops, ops_for), from the servicer and the name being deleted.
DeleteEffects = Callable[[Any, ChildName], Mapping[str, Any]]
S = TypeVar("S", bound=type)


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


@dataclass(frozen=True)
class ChildResource:
    """How the admin API names one kind of workspace child and shows it."""

    noun: str  # as in the RPC names: "SigningKey" (CreateSigningKey, GetSigningKey ...)
    plural: str  # as in the List RPC's name: "SigningKeys"
    collection: Collection
    render: Callable[[Item], Message]  # the stored item as responses carry it
    id_field: str = ""  # Create's id field; default `<field>_id`

    @property
    def field(self) -> str:
        """The resource's field in requests and responses: `signing_key`."""
        return _snake(self.noun)

    @property
    def create_id_field(self) -> str:
        return self.id_field or f"{self.field}_id"

    def rpc(self, verb: str) -> str:
        return f"{verb}{self.noun}"

    def reply(self, verb: str, item: Item) -> Message:
        """The response of RPC `verb` (Create, Get, Update) carrying `item`."""
        response = getattr(pb, f"{self.rpc(verb)}Response")
        return response(**{self.field: self.render(item)})


def serves(
    resource: ChildResource, *verbs: str, delete_effects: DeleteEffects | None = None
) -> Callable[[S], S]:
    """Class decorator: adds the standard `verbs` ("Get", "List", "Delete") RPCs of
    `resource` to a ServicerBase subclass."""
    rpcs = {
        "Get": lambda: _get_rpc(resource),
        "List": lambda: _list_rpc(resource),
        "Delete": lambda: _delete_rpc(resource, delete_effects),
    }

    def add(cls: S) -> S:
        for verb in verbs:
            method = rpcs[verb]()
            setattr(cls, method.__name__, method)
        return cls

    return add


def _named(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    method.__name__ = method.__qualname__ = name
    return grpc_errors(method)


def _get_rpc(resource: ChildResource) -> Callable[..., Any]:
    async def get(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Message:
        name = str(parse_child_name(request.name, resource.collection))
        return resource.reply("Get", await self._repo.get(name))

    return _named(resource.rpc("Get"), get)


def _list_rpc(resource: ChildResource) -> Callable[..., Any]:
    async def list_(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Message:
        page, token = await self._list_children(request, resource.collection, resource.render)
        response = getattr(pb, f"List{resource.plural}Response")
        return response(**{_snake(resource.plural): page}, next_page_token=token)

    return _named(f"List{resource.plural}", list_)


def _delete_rpc(resource: ChildResource, effects: DeleteEffects | None) -> Callable[..., Any]:
    async def delete(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Message:
        name = parse_child_name(request.name, resource.collection)
        extra = effects(self, name) if effects else {}
        method = resource.rpc("Delete")
        await self._delete(method, str(name), request.etag, resource.render, **extra)
        return getattr(pb, f"{method}Response")()

    return _named(resource.rpc("Delete"), delete)
