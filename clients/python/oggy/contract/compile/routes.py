"""One workspace's routes: a model name or alias → its ordered (provider, model) targets.

A target whose provider is not served (deleted while an operator edits, or of
an unknown kind) is skipped with a warning; two routes for one model: the first
by resource name wins, the other is ignored with a warning. A route whose
targets speak different wire families is refused: the data plane keeps only
the targets of the endpoint's family, so its fallbacks would silently vanish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oggy.contract.compile import refs
from oggy.contract.compile.model import CompiledProvider, CompileWarning, ConfigError
from oggy.contract.globs import is_glob
from oggy.contract.names import Collection
from oggy.contract.routing import Target
from oggy.v1 import route_pb2

MAX_MODEL_LEN = 256
Routes = dict[str, tuple[Target[CompiledProvider], ...]]


def compile_routes(
    workspace: str,
    routes: Sequence[route_pb2.Route],
    providers: Mapping[str, CompiledProvider],
    warnings: list[CompileWarning],
) -> Routes:
    """`providers`: the workspace's served providers by resource name."""
    out: Routes = {}
    seen: set[str] = set()
    for route in sorted(routes, key=lambda r: r.name):
        refs.child(route.name, Collection.ROUTES, "route name")
        if route.name in seen:
            raise ConfigError(f"route {route.name} appears twice")
        seen.add(route.name)
        if not route.model or len(route.model) > MAX_MODEL_LEN or is_glob(route.model):
            raise ConfigError(f"route {route.name}: model {route.model!r} must be an exact name")
        targets = _targets(workspace, route, providers, warnings)
        if route.model in out:
            warnings.append(
                CompileWarning(route.name, f"model {route.model!r} is already routed; ignored")
            )
            continue
        out[route.model] = targets
    return out


def _targets(
    workspace: str,
    route: route_pb2.Route,
    providers: Mapping[str, CompiledProvider],
    warnings: list[CompileWarning],
) -> tuple[Target[CompiledProvider], ...]:
    targets: list[Target[CompiledProvider]] = []
    for t in route.targets:
        if len(t.model) > MAX_MODEL_LEN or is_glob(t.model):
            raise ConfigError(f"route {route.name}: target model {t.model!r} is not a name")
        provider = providers.get(t.provider)
        if provider is None:  # (served providers' names are checked already)
            field = f"route {route.name}: provider"
            refs.reference(t.provider, Collection.PROVIDERS, workspace, field)
            warnings.append(CompileWarning(route.name, f"provider {t.provider} is not served"))
            continue
        targets.append(Target(provider, t.model or route.model))
    families = sorted({t.provider.family for t in targets})
    if len(families) > 1:
        raise ConfigError(
            f"route {route.name}: its targets speak different provider formats"
            f" ({', '.join(families)}); translation between provider formats is not"
            " supported yet"
        )
    return tuple(targets)
