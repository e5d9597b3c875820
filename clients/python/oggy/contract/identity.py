"""Who pays for a request: the key's bound actor, or the actor a signed token names. Pure.

Sources of identity, strongest first:
- a verified actor token (`X-Oggy-Actor`, a JWT signed with one of the
  workspace's signing keys): its `sub` is an actor of the workspace, by
  resource name or bare id; the actor must exist and not be disabled;
- the actor the gateway key is bound to.

On a key bound to an actor, a token must name that same actor (else
`actor_mismatch`): a token can never move the bill to someone else. Its
`team`/`app`/`env`/`workflow` claims replace the bound actor's attributes only
where the effective policy's `actor_claim_overrides` allow. On a workspace key
(no bound actor) the token is the identity and all its signed claims apply.
Unsigned headers (`X-Oggy-User`, `X-Oggy-Team`, ...) never change who pays;
`X-Oggy-Tags` and `X-Oggy-Workflow` are recorded as labels/workflow only when
the policy has `allow_labels`, bounded in size and charset.

Everything here is built at config time (`build_workspace_identity`) except
`resolve` and `check_caller`, which are a few dict lookups plus a memoised token
verification.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from oggy.contract import errors
from oggy.contract.actor_token import (
    ActorTokenInvalid,
    ActorTokenVerifier,
    ReplayCache,
    VerificationKey,
    verification_key,
)
from oggy.contract.policy import EffectivePolicy, ShadowRecord, client_ip, enforce
from oggy.v1 import actor_pb2, signing_key_pb2, snapshot_pb2

if TYPE_CHECKING:  # compile imports this module
    from oggy.contract.compile.model import CompiledKey, MergedPolicies

ACTOR_HEADER = "X-Oggy-Actor"
TAGS_HEADER = "X-Oggy-Tags"
WORKFLOW_HEADER = "X-Oggy-Workflow"
MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 256
MAX_CLAIM_VALUE = 256
AS_ACTOR_CACHE_SIZE = 10_000
_LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")
_ALGORITHMS = {
    signing_key_pb2.SigningKey.ALGORITHM_EDDSA: "EdDSA",
    signing_key_pb2.SigningKey.ALGORITHM_ES256: "ES256",
    signing_key_pb2.SigningKey.ALGORITHM_HS256: "HS256",
}
# Every claim applies on a workspace key (the token is the identity).
_ALL_CLAIMS = frozenset({"team", "app", "env", "workflow"})


class IdentityConfigError(ValueError):
    """A signing key or actor cannot be compiled; the message names it (never a secret)."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """The usage event's who: actor and team resource names, app, environment, workflow."""

    actor: str = ""
    team: str = ""
    app: str = ""
    environment: str = ""
    workflow: str = ""


NOBODY = Attribution()


@dataclass(frozen=True, slots=True)
class ActorEntry:
    name: str
    disabled: bool
    teams: tuple[str, ...]
    # Attribution when nothing overrides it: the actor and its first team
    # (a team actor with no team of its own is its own team).
    attribution: Attribution
    # Names of the policies targeting the actor's teams and the actor (sorted).
    policy_names: tuple[str, ...] = ()


class PolicyUnions(Protocol):
    """Merges a key's set of policies with a token actor's (compile.policies)."""

    def union(self, base: tuple[str, ...], extra: tuple[str, ...]) -> MergedPolicies: ...


@dataclass(frozen=True, slots=True)
class WorkspaceIdentity:
    name: str
    # Actors by resource name and by bare id.
    actors: Mapping[str, ActorEntry]
    # None when the workspace registered no signing key: every token is refused.
    verifier: ActorTokenVerifier | None = None
    replay_verifier: ActorTokenVerifier | None = None
    policy_unions: PolicyUnions | None = field(default=None, repr=False)
    # (key id, actor) → the key with the actor's policies merged in; bounded.
    _as_actor: dict[tuple[str, str], CompiledKey] = field(default_factory=dict, repr=False)

    def as_actor(self, key: CompiledKey, actor: str) -> CompiledKey:
        """`key` (a workspace key) with the policies of the token's `actor` merged in.

        The policies that gate the request are then workspace → the actor's
        teams → the actor → the key, as for a key bound to that actor, and so
        are those that decide its prompt logging (mode, retention, redaction):
        both come from that one set. The key itself when the actor has no
        policies of its own.
        """
        entry = self.actors.get(actor)
        if entry is None or not entry.policy_names or self.policy_unions is None:
            return key
        memo_key = (key.key_id, actor)
        found = self._as_actor.get(memo_key)
        if found is None:
            merged = self.policy_unions.union(key.policy_names, entry.policy_names)
            found = replace(
                key,
                policy=merged.policy,
                prompt_logging=merged.prompt_logging,
                policy_names=merged.names,
            )
            if len(self._as_actor) >= AS_ACTOR_CACHE_SIZE:
                del self._as_actor[next(iter(self._as_actor))]
            self._as_actor[memo_key] = found
        return found

    def verify(
        self, token: str, now: float, replay_protection: bool
    ) -> tuple[ActorEntry, Mapping[str, str]]:
        """The token's actor and claims; raises errors.ActorTokenInvalid."""
        verifier = self.replay_verifier if replay_protection else self.verifier
        if verifier is None:
            raise errors.ActorTokenInvalid("unknown_kid", "the workspace has no signing keys")
        try:
            claims = verifier.verify(token, now)
        except ActorTokenInvalid as e:
            raise errors.ActorTokenInvalid(e.reason, e.detail) from None
        actor = self.actors.get(claims.subject)
        if actor is None:
            raise errors.ActorTokenInvalid(
                "unknown_actor", "`sub` is not an actor of the workspace"
            )
        if actor.disabled:
            raise errors.ActorTokenInvalid("actor_disabled", "the token's actor is disabled")
        return actor, claims.attributes


class ReplayCaches:
    """One ReplayCache per workspace that outlives config changes (see actor_token)."""

    def __init__(self, max_entries: int | None = None) -> None:
        self._max = max_entries
        self._by_workspace: dict[str, ReplayCache] = {}

    def get(self, workspace: str) -> ReplayCache:
        cache = self._by_workspace.get(workspace)
        if cache is None:
            cache = ReplayCache() if self._max is None else ReplayCache(self._max)
            self._by_workspace[workspace] = cache
        return cache

    def retain(self, workspaces: Iterable[str]) -> None:
        keep = set(workspaces)
        for name in [w for w in self._by_workspace if w not in keep]:
            del self._by_workspace[name]


# The data plane process's caches; compile_snapshot uses them unless given others.
PROCESS_REPLAY_CACHES = ReplayCaches()


def build_actor_entries(
    workspace: str,
    actors: Iterable[actor_pb2.Actor],
    policy_names: Callable[[actor_pb2.Actor], tuple[str, ...]] = lambda a: (),
) -> dict[str, ActorEntry]:
    """Actors of one workspace, indexed by resource name and by bare id."""
    out: dict[str, ActorEntry] = {}
    for a in actors:
        teams = tuple(a.teams)
        if teams:
            team = teams[0]
        elif a.kind == actor_pb2.Actor.KIND_TEAM:
            team = a.name
        else:
            team = ""
        entry = ActorEntry(
            a.name, a.disabled, teams, Attribution(actor=a.name, team=team), policy_names(a)
        )
        out[a.name] = entry
        out[a.name.rsplit("/", 1)[1]] = entry
    return out


def build_workspace_identity(
    workspace: str,
    actors: Mapping[str, ActorEntry],
    signing_keys: Iterable[snapshot_pb2.SigningKeyMaterial],
    replay_cache: ReplayCache,
    clock: Callable[[], float] = time.time,
    policy_unions: PolicyUnions | None = None,
) -> WorkspaceIdentity:
    keys: dict[str, VerificationKey] = {}
    for material in signing_keys:
        sk = material.signing_key
        kid = sk.name.rsplit("/", 1)[1]
        alg = _ALGORITHMS.get(sk.algorithm)
        if alg is None:
            raise IdentityConfigError(f"signing key {sk.name}: algorithm is unspecified")
        if kid in keys:
            raise IdentityConfigError(f"signing key {sk.name} appears twice")
        try:
            keys[kid] = verification_key(
                kid, alg, public_key_pem=sk.public_key_pem, hmac_secret=material.hmac_secret
            )
        except ValueError as e:
            raise IdentityConfigError(f"{sk.name}: {e}") from None
    verifier = replay_verifier = None
    if keys:
        audiences = (workspace, workspace.rsplit("/", 1)[1])
        verifier = ActorTokenVerifier(keys, audiences, clock)
        replay_verifier = ActorTokenVerifier(
            keys, audiences, clock, replay_protection=True, replay_cache=replay_cache
        )
    return WorkspaceIdentity(
        workspace, MappingProxyType(actors), verifier, replay_verifier, policy_unions
    )


def resolve(
    ws: WorkspaceIdentity,
    bound: ActorEntry | None,
    policy: EffectivePolicy,
    token: str | None,
    now: float,
) -> Attribution:
    """The attribution of a request; raises ActorTokenInvalid. (`require_actor_token`
    is the caller's policy check, done before.)"""
    if token is None:
        return NOBODY if bound is None else bound.attribution
    actor, claims = ws.verify(token, now, policy.replay_protection)
    if bound is None:
        allowed = _ALL_CLAIMS
    else:
        if actor is not bound and actor.name != bound.name:
            raise errors.ActorTokenInvalid(
                "actor_mismatch", "the key is bound to another actor than the token's `sub`"
            )
        allowed = policy.claim_overrides
    if not claims or not allowed:
        return actor.attribution
    base = actor.attribution
    team = base.team
    if "team" in allowed and (claimed := claims.get("team")):
        entry = ws.actors.get(claimed)
        team = entry.name if entry is not None else claimed[:MAX_CLAIM_VALUE]
    return Attribution(
        actor=actor.name,
        team=team,
        app=claims.get("app", "")[:MAX_CLAIM_VALUE] if "app" in allowed else "",
        environment=claims.get("env", "")[:MAX_CLAIM_VALUE] if "env" in allowed else "",
        workflow=claims.get("workflow", "")[:MAX_CLAIM_VALUE] if "workflow" in allowed else "",
    )


class CallerRecord(ShadowRecord, Protocol):
    """What a request records about its caller, kept also when a check refuses it."""

    client_ip: str

    def set_attribution(self, who: Attribution) -> None: ...


def check_caller(
    key: CompiledKey,
    rec: CallerRecord,
    peer: str,
    forwarded_for: str | None,
    token: str | None,
    now: float,
) -> CompiledKey:
    """Check who calls with an authenticated `key` and settle who pays.

    Returns the key carrying the policy that gates the rest of the request and
    the prompt logging it gets: on a workspace key used with a token, the key's
    policies merged with the token actor's (`WorkspaceIdentity.as_actor`).
    Raises errors.GatewayError; shadow reasons, the client address and the
    attribution are on `rec`.

    Order: bound actor disabled → actor token required → token verified →
    attribution, with the client address resolved (X-Forwarded-For believed
    only from the gating policy's trusted proxies) and checked against the
    gating policy's allowlists. Where that policy is the key's own, the address
    is checked first, before any signature work; where a token actor's
    policies merge in, they are known only once the token is verified, so it
    is checked last — with the merged trusted proxies, or an actor policy that
    trusts a proxy would allow a network through that proxy in vain — and
    then the actor's replay protection, if the key's policy had none.
    """
    if key.actor_disabled:
        raise errors.ActorDisabled()
    policy = key.policy
    # Recorded before any check, so a refused request is still attributed to an address.
    rec.client_ip = client_ip(peer, forwarded_for, policy.trusted_proxies)
    # A token on a workspace key brings its actor's policies along.
    merged_token = token if key.bound_actor is None else None
    if merged_token is None:
        enforce(policy.check_ip(rec.client_ip), rec)
    enforce(policy.check_actor_token(token is not None), rec)
    who = resolve(key.identity, key.bound_actor, policy, token, now)
    rec.set_attribution(who)
    if merged_token is not None:
        key = key.identity.as_actor(key, who.actor)
        gating = key.policy
        if gating is not policy:
            rec.client_ip = client_ip(peer, forwarded_for, gating.trusted_proxies)
        enforce(gating.check_ip(rec.client_ip), rec)
        if gating.replay_protection and not policy.replay_protection:
            # The actor's policy wants single-use tokens; `resolve` verified with the
            # key's, which memoises instead. Spend the jti only once the address passed.
            key.identity.verify(merged_token, now, replay_protection=True)
    return key


def _label_text(value: str, limit: int) -> bool:
    return 0 < len(value) <= limit and _LABEL_CHARS.issuperset(value)


def parse_labels(header: str | None) -> dict[str, str]:
    """`k=v,k2=v2` → labels; malformed entries are dropped, at most MAX_LABELS kept."""
    if not header:
        return {}
    out: dict[str, str] = {}
    # Split at most MAX_LABELS times: parsing cost is bounded whatever the header holds.
    for item in header.split(",", MAX_LABELS)[:MAX_LABELS]:
        k, sep, v = item.partition("=")
        k = k.strip()
        v = v.strip()
        if sep and _label_text(k, MAX_LABEL_KEY) and _label_text(v, MAX_LABEL_VALUE):
            out[k] = v
    return out


def parse_workflow(header: str | None) -> str:
    """An unsigned workflow name, kept only when it is a valid label value."""
    if header and _label_text(header := header.strip(), MAX_LABEL_VALUE):
        return header
    return ""
