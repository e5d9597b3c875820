"""One workspace's policies: checked one by one, indexed by target, merged per key.

Each policy must compile on its own, even when nothing it targets exists, so a
bad policy is refused when it is written and not when a key first needs it. A
policy whose target is gone (a deleted key or actor, while an operator edits)
is kept and applies to nothing, with a warning: rejecting it would wedge every
later update of the workspace.
"""

from __future__ import annotations

from collections.abc import Collection as Container
from collections.abc import Iterable, Sequence

from oggy.contract.compile import refs
from oggy.contract.compile.model import CompileWarning, ConfigError
from oggy.contract.globs import GlobError
from oggy.contract.names import ChildName, Collection
from oggy.contract.policy import EffectivePolicy, PolicyError, PolicySets, compile_effective
from oggy.contract.prompt_logging import (
    PromptLoggingError,
    PromptLoggingPolicy,
    compile_prompt_logging,
    validate_policy,
)
from oggy.contract.redaction import Redactor
from oggy.v1 import policy_pb2

_TARGETS = (Collection.ACTORS, Collection.KEYS)


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
        self._effective: dict[tuple[str, ...], EffectivePolicy] = {}
        self._prompt: dict[tuple[str, ...], PromptLoggingPolicy] = {}
        self._redactors: dict[tuple[tuple[str, str], ...], Redactor] = {}
        # Unions with a token actor's policies, at request time (identity.as_actor).
        self.sets = PolicySets(self._by_name, self._effective)

    def names_for(self, targets: Iterable[str]) -> tuple[str, ...]:
        """Names of the policies targeting any of `targets`, sorted (a set's identity)."""
        return tuple(sorted({p.name for t in targets for p in self._by_target.get(t, ())}))

    def merged(self, names: tuple[str, ...]) -> tuple[EffectivePolicy, PromptLoggingPolicy]:
        """The effective policy and prompt logging of a set of policies, each set once."""
        effective = self._effective.get(names)
        prompt = self._prompt.get(names)
        if effective is None or prompt is None:
            applying = [self._by_name[n] for n in names]
            try:
                effective = compile_effective(applying)
                prompt = compile_prompt_logging(applying, self._redactors)
            except (PolicyError, GlobError, PromptLoggingError) as e:
                raise ConfigError(str(e)) from e
            self._effective[names] = effective
            self._prompt[names] = prompt
        return effective, prompt


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
