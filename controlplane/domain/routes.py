"""Routes: a model name clients ask for → ordered provider targets. Pure checks.

That each target's provider exists is checked by the caller, atomically with
the write (a guard per provider in the same transaction).
"""

from __future__ import annotations

import re

from controlplane.domain.errors import InvalidArgument
from oggy.contract.names import ChildName, Collection, WorkspaceName, parse_child_name
from oggy.v1 import route_pb2

MAX_TARGETS = 16
# A model name as clients send it: printable, no whitespace, no glob characters.
_MODEL = re.compile(r"[\x21-\x7e]{1,200}")
_GLOB_CHARS = frozenset("*?[]")


def model_name(value: str, field: str) -> str:
    if not _MODEL.fullmatch(value):
        raise InvalidArgument(f"{field} must be 1-200 printable characters without spaces")
    if _GLOB_CHARS & set(value):
        raise InvalidArgument(f"{field} must be an exact model name, not a pattern")
    return value


def validate(route: route_pb2.Route, workspace: WorkspaceName) -> list[ChildName]:
    """The providers the route's targets name (in order, deduplicated)."""
    if not route.model:
        raise InvalidArgument("route.model is required")
    model_name(route.model, "route.model")
    if not route.targets:
        raise InvalidArgument("route.targets must have at least one target")
    if len(route.targets) > MAX_TARGETS:
        raise InvalidArgument(f"route.targets has more than {MAX_TARGETS} targets")
    providers: dict[str, ChildName] = {}
    for i, target in enumerate(route.targets):
        field = f"route.targets[{i}]"
        if not target.provider:
            raise InvalidArgument(f"{field}.provider is required")
        name = parse_child_name(target.provider, Collection.PROVIDERS, f"{field}.provider")
        if name.parent != workspace:
            raise InvalidArgument(f"{field}.provider must be in {workspace}")
        if target.model:
            model_name(target.model, f"{field}.model")
        providers.setdefault(str(name), name)
    return list(providers.values())
