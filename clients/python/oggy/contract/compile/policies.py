"""One workspace's policies: checked one by one, indexed by target, merged per key.

Each policy must compile on its own, even when nothing it targets exists, so a
bad policy is refused when it is written and not when a key first needs it. A
policy whose target is gone (a deleted key or actor, while an operator edits)
is kept and applies to nothing, with a warning: rejecting it would wedge every
later update of the workspace.

A set of policies merges once into a MergedPolicies: the effective policy that
enforces requests and the prompt logging (contract/prompt_logging.py) of
exactly the same policies. A workspace key used with an actor token is gated
by its own set united with the token actor's (`union`, identity.as_actor):
which actor calls with which key is known only per request, so a union is
merged on its first use (reusing a set merged at config time) and memoised,
bounded, like the sets: never merged per request. (Merging every workspace
key set with every actor set up front would add a merge per pair to every
compile, for pairs that may never call.)
"""

from __future__ import annotations

from collections.abc import Collection as Container
from collections.abc import Iterable, Sequence

from oggy.contract.compile import refs
from oggy.contract.compile.model import CompileWarning, ConfigError, MergedPolicies
from oggy.contract.globs import GlobError
from oggy.contract.names import ChildName, Collection
from oggy.contract.policy import PolicyError, compile_effective
from oggy.contract.prompt_logging import (
    PromptLoggingError,
    RuleSet,
    compile_prompt_logging,
    validate_policy,
)
from oggy.contract.redaction import Redactor
from oggy.v1 import policy_pb2

_TARGETS = (Collection.ACTORS, Collection.KEYS)
# Unions (and the redactors of their rule sets) memoised per workspace, at most;
# the oldest is dropped first.
UNION_CACHE_SIZE = 4096
Names = tuple[str, ...]


class WorkspacePolicies:
    """The policies of workspace `workspace`; `existing` holds the names of its keys and
    actors (to warn about policies that target neither)."""

    def __init__(
        self,
        workspace: str,
        policies: Sequence[policy_pb2.Policy],
        existing: Container[str],
        warnings: list[CompileWarning],
    ) -> None:
        self._by_target: dict[str, list[policy_pb2.Policy]] = {}
        self._by_name: dict[str, policy_pb2.Policy] = {}
        for p in policies:
            refs.child(p.name, Collection.POLICIES, "policy name")
            if p.name in self._by_name:
                raise ConfigError(f"policy {p.name} appears twice")
            self._by_name[p.name] = p
            target = p.target or workspace
            if target != workspace:
                _check_target(p, target, workspace)
                if target not in existing:
                    warnings.append(
                        CompileWarning(p.name, f"target {target} is not in the snapshot")
                    )
            _check_alone(p)
            self._by_target.setdefault(target, []).append(p)
        self._merged: dict[Names, MergedPolicies] = {}
        self._unions: dict[tuple[Names, Names], MergedPolicies] = {}
        self._redactors: dict[RuleSet, Redactor] = {}

    def names_for(self, targets: Iterable[str]) -> Names:
        """Names of the policies targeting any of `targets`, sorted (a set's identity)."""
        return tuple(sorted({p.name for t in targets for p in self._by_target.get(t, ())}))

    def merged(self, names: Names) -> MergedPolicies:
        """The set of policies `names` (sorted) merged; each set once."""
        found = self._merged.get(names)
        if found is None:
            found = self._merged[names] = self._merge(names)
        return found

    def union(self, base: Names, extra: Names) -> MergedPolicies:
        """The policies of `base` (a key's set) and `extra` (a token actor's) merged.

        Cannot fail: every policy compiled on its own when the workspace did.
        """
        memo = (base, extra)
        found = self._unions.get(memo)
        if found is None:
            names = tuple(sorted(set(base).union(extra)))
            found = self._merged.get(names) or self._merge(names)
            if len(self._unions) >= UNION_CACHE_SIZE:
                del self._unions[next(iter(self._unions))]
            self._unions[memo] = found
            if len(self._redactors) > UNION_CACHE_SIZE:  # (one more rule set at most)
                del self._redactors[next(iter(self._redactors))]
        return found

    def _merge(self, names: Names) -> MergedPolicies:
        applying = [self._by_name[n] for n in names]
        try:
            return MergedPolicies(
                names,
                compile_effective(applying),
                compile_prompt_logging(applying, self._redactors),
            )
        except (PolicyError, GlobError, PromptLoggingError) as e:
            raise ConfigError(str(e)) from e


def _check_target(p: policy_pb2.Policy, target: str, workspace: str) -> None:
    parsed = refs.any_name(target, f"policy {p.name}: target")
    if not (
        isinstance(parsed, ChildName)
        and parsed.collection in _TARGETS
        and str(parsed.parent) == workspace
    ):
        raise ConfigError(
            f"policy {p.name}: target {p.target!r} is not {workspace} or an actor or key in it"
        )


def _check_alone(p: policy_pb2.Policy) -> None:
    try:
        compile_effective([p])
        validate_policy(p)
    except (PolicyError, GlobError, PromptLoggingError) as e:
        raise ConfigError(str(e)) from e
