"""Model → provider credential, among one workspace's providers.

A provider serves a model when one of its `models` entries matches: an exact
name beats any glob; among globs, the provider listed first wins (the compiler
orders providers by resource name, so the choice is stable across snapshots).
Answers, including "nobody", are memoised per model string in a bounded dict.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dataplane.core.globs import compile_globs, is_glob

T = TypeVar("T")
ROUTE_CACHE_SIZE = 4096


@dataclass(slots=True)
class Router(Generic[T]):
    exact: dict[str, T]
    globbed: tuple[tuple[re.Pattern[str], T], ...]
    _cache: dict[str, T | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, providers: Sequence[tuple[Sequence[str], T]]) -> Router[T]:
        """`providers`: (model entries, target) in priority order; entries are validated."""
        exact: dict[str, T] = {}
        globbed = []
        for models, target in providers:
            pattern = compile_globs([m for m in models if is_glob(m)])
            for m in models:
                if not is_glob(m):
                    compile_globs([m])  # validates the characters
                    exact.setdefault(m, target)
            if pattern is not None:
                globbed.append((pattern, target))
        return cls(exact, tuple(globbed))

    def route(self, model: str) -> T | None:
        try:
            return self._cache[model]
        except KeyError:
            pass
        target = self.exact.get(model)
        if target is None:
            for pattern, candidate in self.globbed:
                if pattern.match(model):
                    target = candidate
                    break
        if len(self._cache) >= ROUTE_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]
        self._cache[model] = target
        return target
