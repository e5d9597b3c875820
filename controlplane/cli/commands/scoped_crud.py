"""create/list/show/update/delete of a scoped resource (`oggy limit`, `oggy budget`),
written once: the RPCs are named after the noun, as the server's ChildResource names
them (CreateLimit, ListLimits ...).

`update` reads the stored resource first: the scope flags are laid over its scope, and
its etag goes with the update, so a change made in between is ABORTED, not overwritten.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from controlplane.cli import names, output
from controlplane.cli.commands.common import emit_all, print_deleted, request_id
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.v1 import admin_service_pb2 as pb

# The flags given → the resource holding them (over the stored one) and the mask paths.
BuildChanges = Callable[[argparse.Namespace, str, Any], tuple[Any, list[str]]]


@dataclass(frozen=True)
class ScopedNoun:
    noun: str  # as in the RPC names: "Limit"
    plural: str  # "Limits"
    message: type[Message]
    build_changes: BuildChanges
    list_columns: Sequence[output.Column]
    detail_columns: Sequence[output.Column]

    @property
    def field(self) -> str:
        return self.noun.lower()

    @property
    def collection(self) -> str:
        return self.plural.lower()

    def _rpc(self, ctx: Context, verb: str, plural: bool = False, **fields: Any) -> Any:
        method = f"{verb}{self.plural if plural else self.noun}"
        return getattr(ctx.client.stub, method)(getattr(pb, f"{method}Request")(**fields))

    def name(self, ctx: Context) -> str:
        return names.child_name(ctx.workspace, self.collection, getattr(ctx.args, self.field))

    def get(self, ctx: Context, name: str) -> Any:
        return getattr(self._rpc(ctx, "Get", name=name), self.field)

    def register(self, group: CommandGroup, add_settings: Callable[..., None]) -> None:
        """The five actions; `add_settings(parser, creating=...)` adds the create and
        update flags (and the ID argument)."""
        add_settings(group.action("create", self.create, f"create a {self.field}"), creating=True)
        group.action("list", self.list_items, f"list {self.collection}")
        self.add_id(group.action("show", self.show, f"show a {self.field}"))
        update_p = group.action(
            "update",
            self.update,
            "change the settings given",
            description="Only the flags given change.",
        )
        add_settings(update_p, creating=False)
        self.add_id(group.action("delete", self.delete, f"delete a {self.field}"))

    def add_id(self, parser: argparse.ArgumentParser, optional: bool = False) -> None:
        if optional:
            parser.add_argument(
                self.field, metavar="ID", nargs="?", default="", help="default: all"
            )
        else:
            parser.add_argument(self.field, metavar="ID", help=f"{self.field} id or full name")

    # Handlers, bound: `self.create` is a Handler.

    def create(self, ctx: Context) -> int:
        name = self.name(ctx)
        body, _ = self.build_changes(ctx.args, ctx.workspace, self.message())
        fields = {f"{self.field}_id": names.short_id(name), self.field: body}
        response = self._rpc(ctx, "Create", parent=ctx.workspace, request_id=request_id(), **fields)
        output.emit_one(ctx.format, getattr(response, self.field), self.detail_columns)
        return 0

    def list_items(self, ctx: Context) -> int:
        method = getattr(ctx.client.stub, f"List{self.plural}")
        request = getattr(pb, f"List{self.plural}Request")(parent=ctx.workspace)
        return emit_all(ctx, method, request, self.collection, self.list_columns)

    def show(self, ctx: Context) -> int:
        output.emit_one(ctx.format, self.get(ctx, self.name(ctx)), self.detail_columns)
        return 0

    def update(self, ctx: Context) -> int:
        name = self.name(ctx)
        stored = self.get(ctx, name)
        changes, paths = self.build_changes(ctx.args, ctx.workspace, stored)
        if not paths:
            raise CliError(f"nothing to change in {name}: give at least one setting")
        changes.name, changes.etag = name, stored.etag  # the scope was merged with this one
        response = self._rpc(
            ctx, "Update", **{self.field: changes}, update_mask=FieldMask(paths=paths)
        )
        updated = getattr(response, self.field)
        output.emit_one(ctx.format, updated, self.detail_columns)
        if ctx.format != "json":
            print(f"updated {updated.name}", file=sys.stderr)
        return 0

    def delete(self, ctx: Context) -> int:
        name = self.name(ctx)
        self._rpc(ctx, "Delete", name=name)
        print_deleted(ctx, name)
        return 0
