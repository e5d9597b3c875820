"""Model → an ordered chain of (provider, upstream model) targets. Pure.

Two sources, in this order:
1. Routes (`workspaces/{w}/routes/{r}`): an exact model name or alias such as
   `gpt-fast` maps to its targets in the order the route lists them; each
   target names a provider and the model sent to it.
2. Providers' `models` entries, when no route names the model: an exact entry
   beats any glob; every provider whose entries match serves, so several
   providers serving the same model make an IMPLICIT FALLBACK CHAIN — providers
   with an exact entry first, then providers with a matching glob, each group in
   provider resource-name order (the compiler sorts providers by name, so the
   chain is stable across snapshots).
Later targets serve only when an earlier one fails before the client got a byte
(see dataplane/http/proxy.py). Only targets whose provider speaks the endpoint's
wire family are kept; the compiler refuses a route whose targets speak different
families (nothing translates between them yet), so a route never loses its
fallbacks to this filter. Answers, including "nobody", are memoised per
(model, family) in bounded dicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from oggy.contract.globs import compile_globs, is_glob

T = TypeVar("T")
ROUTE_CACHE_SIZE = 4096
# Longest chain tried for one request (a glob like `*` could match every provider).
MAX_TARGETS = 5


@dataclass(slots=True)
class Router(Generic[T]):
    exact: dict[str, tuple[T, ...]]
    globbed: tuple[tuple[re.Pattern[str], T], ...]
    _cache: dict[str, tuple[T, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, providers: Sequence[tuple[Sequence[str], T]]) -> Router[T]:
        """`providers`: (model entries, target) in priority order; entries are validated."""
        exact: dict[str, tuple[T, ...]] = {}
        globbed = []
        for models, target in providers:
            pattern = compile_globs([m for m in models if is_glob(m)])
            for m in models:
                if not is_glob(m):
                    compile_globs([m])  # validates the characters
                    have = exact.get(m, ())
                    if target not in have:
                        exact[m] = (*have, target)
            if pattern is not None:
                globbed.append((pattern, target))
        return cls(exact, tuple(globbed))

    def candidates(self, model: str) -> tuple[T, ...]:
        """Every target serving `model`, best first (exact entries, then globs)."""
        try:
            return self._cache[model]
        except KeyError:
            pass
        found = list(self.exact.get(model, ()))
        for pattern, candidate in self.globbed:
            if candidate not in found and pattern.match(model):
                found.append(candidate)
        result = tuple(found[:MAX_TARGETS])
        if len(self._cache) >= ROUTE_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._cache[model] = result
        return result

    def route(self, model: str) -> T | None:
        """The first choice for `model`, or None."""
        found = self.candidates(model)
        return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Target(Generic[T]):
    provider: T
    model: str  # the model name sent upstream


@dataclass(slots=True)
class RoutingTable(Generic[T]):
    """Routes first, then per-family provider routers; see the module docstring."""

    routes: Mapping[str, tuple[Target[T], ...]]
    routers: Mapping[str, Router[T]]
    family_of: Callable[[T], str]
    _cache: dict[tuple[str, str], tuple[Target[T], ...]] = field(default_factory=dict, repr=False)

    def resolve(self, model: str, family: str) -> tuple[Target[T], ...]:
        key = (model, family)
        try:
            return self._cache[key]
        except KeyError:
            pass
        route = self.routes.get(model)
        if route is not None:
            result = tuple(t for t in route if self.family_of(t.provider) == family)[:MAX_TARGETS]
        else:
            router = self.routers.get(family)
            found = router.candidates(model) if router is not None else ()
            result = tuple(Target(p, model) for p in found)
        if len(self._cache) >= ROUTE_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = result
        return result

    def upstream_models(self, model: str) -> tuple[str, ...]:
        """The models a request for `model` may go upstream under: a route's target
        models (each once, in order), else `model` itself. Policy judges an alias by
        these (`EffectivePolicy.check_any_model`), never by the alias's own name."""
        route = self.routes.get(model)
        if route is None:
            return (model,)
        return tuple(dict.fromkeys(t.model for t in route))
