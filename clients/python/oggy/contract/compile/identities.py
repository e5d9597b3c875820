"""One workspace's identity: its actors and the verifiers of its actor tokens.

An actor listing a team that is gone (deleted while an operator edits) keeps it
as its team for attribution, with a warning; an actor's teams must be in its
own workspace.
"""

from __future__ import annotations

from collections.abc import Sequence

from oggy.contract.actor_token import ReplayCache
from oggy.contract.compile import refs
from oggy.contract.compile.model import CompileWarning, ConfigError
from oggy.contract.compile.policies import WorkspacePolicies
from oggy.contract.identity import (
    IdentityConfigError,
    WorkspaceIdentity,
    build_actor_entries,
    build_workspace_identity,
)
from oggy.contract.names import Collection
from oggy.v1 import actor_pb2, snapshot_pb2


def check_actors(
    workspace: str, actors: Sequence[actor_pb2.Actor], warnings: list[CompileWarning]
) -> None:
    names: set[str] = set()
    for actor in actors:
        refs.child(actor.name, Collection.ACTORS, "actor name")
        if actor.name in names:
            raise ConfigError(f"actor {actor.name} appears twice")
        names.add(actor.name)
    for actor in actors:
        for team in actor.teams:
            if team not in names:  # (the names in `names` are checked already)
                refs.reference(team, Collection.ACTORS, workspace, f"actor {actor.name}: team")
                warnings.append(CompileWarning(actor.name, f"team {team} is not in the snapshot"))


def compile_identity(
    workspace: str,
    actors: Sequence[actor_pb2.Actor],
    signing_keys: Sequence[snapshot_pb2.SigningKeyMaterial],
    policies: WorkspacePolicies,
    replay_cache: ReplayCache,
) -> WorkspaceIdentity:
    """Actors (checked by `check_actors`) by name and bare id, each with the names of the
    policies on its teams and itself, and the workspace's token verifiers."""
    for material in signing_keys:
        # Key ids are JWT `kid`s: the names grammar allows them a wider alphabet.
        refs.child(material.signing_key.name, Collection.SIGNING_KEYS, "signing key name")
    try:
        return build_workspace_identity(
            workspace,
            build_actor_entries(
                workspace, actors, lambda a: policies.names_for((*a.teams, a.name))
            ),
            signing_keys,
            replay_cache,
            policy_unions=policies,
        )
    except IdentityConfigError as e:
        raise ConfigError(str(e)) from e
