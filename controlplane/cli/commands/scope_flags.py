"""The flags `oggy limit` and `oggy budget` share: which traffic counts (`--team`,
`--model`, ...) and whose traffic shares a counter (`--per`). Pure, so every flag is
tested without a server.

Scope flags take an id or a full name; they are sent as full names. On `update`, the
flags given are laid over the stored scope (`--team ""` clears one), so the scope is
replaced whole with what the user sees.
"""

from __future__ import annotations

import argparse

from controlplane.cli import names
from oggy.v1 import scope_pb2

Scope = scope_pb2.Scope
PER = {
    "scope": scope_pb2.COUNTED_PER_SCOPE,
    "actor": scope_pb2.COUNTED_PER_ACTOR,
    "key": scope_pb2.COUNTED_PER_KEY,
}
# flag dest → (Scope field, collection for names; "" for a free-text label).
SCOPE_FLAGS = {
    "team": ("team", "actors"),
    "actor": ("actor", "actors"),
    "key": ("key", "keys"),
    "app": ("app", ""),
    "env": ("environment", ""),
    "workflow": ("workflow", ""),
    "model": ("model", ""),
    "provider": ("provider", "providers"),
}
_HELP = {
    "team": "a team (actor id or name)",
    "actor": "an actor id or name",
    "key": "a gateway key id, name or prefix",
    "app": "the app attribute",
    "env": "the environment attribute",
    "workflow": "the workflow label",
    "model": "a model glob (gpt-4o*)",
    "provider": "the provider id or name a request is routed to first",
}


def add_scope_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "scope", "which requests count (all given must match; none: the whole workspace)"
    )
    for dest, help_text in _HELP.items():
        group.add_argument(f"--{dest}", dest=f"scope_{dest}", metavar="VALUE", help=help_text)
    parser.add_argument(
        "--per",
        choices=list(PER),
        help="who shares a counter: the whole scope (default), each actor or each key",
    )


def _reference(workspace: str, collection: str, value: str) -> str:
    if collection == "keys":
        return names.key_name(workspace, value)
    return names.child_name(workspace, collection, value)


def build_scope(args: argparse.Namespace, workspace: str, base: Scope | None = None) -> Scope:
    """The scope the flags describe, laid over `base` (an update's stored scope)."""
    scope = Scope()
    if base is not None:
        scope.CopyFrom(base)
    for dest, (field, collection) in SCOPE_FLAGS.items():
        value = getattr(args, f"scope_{dest}", None)
        if value is None:
            continue
        value = value.strip()
        if value and collection:
            value = _reference(workspace, collection, value)
        setattr(scope, field, value)
    return scope


def scope_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, f"scope_{dest}", None) is not None for dest in SCOPE_FLAGS)


def scope_label(scope: Scope) -> str:
    """`team ml, model gpt-4o*`; `workspace` when nothing narrows it."""
    parts = []
    for dest, (field, collection) in SCOPE_FLAGS.items():
        value = getattr(scope, field)
        if value:
            parts.append(f"{dest} {names.short_id(value) if collection else value}")
    return ", ".join(parts) or "workspace"


def per_label(value: int) -> str:
    for label, number in PER.items():
        if number == value:
            return label
    return "scope" if value == scope_pb2.COUNTED_PER_UNSPECIFIED else str(value)
