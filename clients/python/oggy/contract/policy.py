"""Effective policy: merged at config time, decided per request in microseconds.

The policies that apply to a key (its workspace's, its actor's teams', its
actor's, its own) merge with the most restrictive winning:

| field                      | merge                                   | denies with            |
|----------------------------|-----------------------------------------|------------------------|
| `allowed_models`           | every non-empty list must match         | `model_not_allowed`    |
| `denied_models`            | union: any glob denies                  | `model_not_allowed`    |
| `allowed_cidrs`            | every non-empty list must contain the IP| `ip_not_allowed`       |
| `trusted_proxy_cidrs`      | union                                   | (which XFF to believe) |
| `allowed_providers`        | intersection of the non-empty lists     | `provider_not_allowed` |
| `max_output_tokens`        | the smallest non-zero bound             | `max_tokens_exceeded`  |
| `max_tokens_mode`          | CAP only if every policy with a bound   | (CAP lowers, never     |
|                            | says CAP; UNSPECIFIED counts as REJECT  |  denies)               |
| `require_actor_token`      | OR                                      | `actor_token_required` |
| `replay_protection`        | OR                                      | (token `replayed`)     |
| `actor_claim_overrides`    | union (attribution only, never allows)  | —                      |
| `record_labels`            | a grant (below)                         | —                      |

So adding a policy to the set never turns a Deny into an Allow (a
hypothesis property in the tests), and never raises the CAP bound.

A grant (`Policy.Grant`: a permission, not a restriction) is tri-state, so a
policy that says nothing about it does not take it away: a `GRANT_DENY` in
any applying policy denies, otherwise a `GRANT_ALLOW` in any of them grants,
otherwise it is not granted. The order of the policies plays no part, and an
explicit "no" is still the strictest word. `record_labels` is the only grant
(the deprecated `allow_labels: true` reads as `GRANT_ALLOW`).
`allowed_providers` holds provider resource names; a bare id is read within
the policy's workspace. Claim overrides never change who pays: a token on a
key bound to an actor must name that actor; overrides only let its `team`,
`app`, `env`, `workflow` claims replace the bound actor's attributes.

Policies with `shadow` set merge into a separate layer that is evaluated and
reported (`Allow.shadow_reason`) but never blocks; a shadow layer reports
denials only (a shadow CAP or replay protection is not evaluated). Model,
provider and client-address decisions are memoised in bounded dicts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from oggy.contract import errors
from oggy.contract.globs import GlobError, compile_globs
from oggy.contract.names import Collection, InvalidName, WorkspaceName, parse_child_name
from oggy.v1 import policy_pb2

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_Policy = policy_pb2.Policy
T = TypeVar("T")
MODEL_CACHE_SIZE = 1024
IP_CACHE_SIZE = 4096


class PolicyError(ValueError):
    """A policy does not compile (bad glob or CIDR)."""


@dataclass(frozen=True, slots=True)
class Allow:
    # Set when a shadow policy would have denied: recorded, not enforced.
    shadow_reason: str = ""


@dataclass(frozen=True, slots=True)
class Deny:
    reason: str  # also the error code and the usage event's error_type
    status: int
    message: str

    def error(self) -> errors.GatewayError:
        cls = _DENY_ERRORS.get(self.reason, errors.PermissionDenied)
        return cls(self.message)


ALLOW = Allow()
Decision = Allow | Deny

_DENY_ERRORS: dict[str, type[errors.GatewayError]] = {
    errors.ModelNotAllowed.code: errors.ModelNotAllowed,
    errors.ClientIpNotAllowed.code: errors.ClientIpNotAllowed,
    errors.MaxTokensExceeded.code: errors.MaxTokensExceeded,
    errors.ProviderNotAllowed.code: errors.ProviderNotAllowed,
    errors.ActorTokenRequired.code: errors.ActorTokenRequired,
}
# Error codes recorded as a usage event's `policy_reason` when they block a request.
POLICY_REASONS = frozenset(
    {
        errors.ClientIpNotAllowed.code,
        errors.ModelNotAllowed.code,
        errors.ActorTokenRequired.code,
        errors.ActorTokenInvalid.code,
        errors.KeyRevoked.code,
        errors.KeyExpired.code,
        errors.InvalidApiKey.code,
        errors.ProviderNotAllowed.code,
        errors.MaxTokensExceeded.code,
        errors.ActorDisabled.code,
        errors.RateLimited.policy_reason,
        errors.BudgetExceeded.code,
        errors.ModelUnpriced.code,
    }
)
# Actor-token claims a policy may let override a bound actor's attributes.
CLAIM_OVERRIDES = frozenset({"team", "app", "env", "workflow"})
_CLAIM_ALIASES = {"environment": "env"}


def _deny(cls: type[errors.GatewayError], message: str) -> Deny:
    return Deny(cls.code, cls.status, message)


@dataclass(frozen=True, slots=True)
class Rules:
    """One merged layer (enforced or shadow)."""

    allowed_models: tuple[re.Pattern[str], ...] = ()
    denied_models: re.Pattern[str] | None = None
    allowed_networks: tuple[tuple[IpNetwork, ...], ...] = ()
    max_output_tokens: int = 0
    # True: a request over the bound is lowered to it; False: refused.
    max_tokens_cap: bool = False
    # A request that names no bound gets this one (every CAP policy wants that, even
    # merged with a REJECT one, which still refuses a request over it).
    max_tokens_fill: bool = False
    require_actor_token: bool = False
    # Provider resource names that may serve; None means any.
    allowed_providers: frozenset[str] | None = None
    replay_protection: bool = False

    def check_model(self, model: str) -> Deny | None:
        if self.denied_models is not None and self.denied_models.match(model):
            return _deny(errors.ModelNotAllowed, f"Model {model!r} is denied by policy.")
        for allowed in self.allowed_models:
            if not allowed.match(model):
                return _deny(errors.ModelNotAllowed, f"Model {model!r} is not allowed by policy.")
        return None

    def check_ip(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> Deny | None:
        for networks in self.allowed_networks:
            if ip is None or not any(ip in n for n in networks):
                return _deny(errors.ClientIpNotAllowed, "The client address is not allowed.")
        return None

    def check_max_tokens(self, requested: int | None) -> Deny | None:
        if (
            self.max_output_tokens
            and not self.max_tokens_cap
            and requested is not None
            and requested > self.max_output_tokens
        ):
            return _deny(
                errors.MaxTokensExceeded,
                f"Requested {requested} output tokens; policy allows at most "
                f"{self.max_output_tokens}.",
            )
        return None

    def check_provider(self, provider: str) -> Deny | None:
        if self.allowed_providers is not None and provider not in self.allowed_providers:
            return _deny(
                errors.ProviderNotAllowed,
                f"The provider {provider.rsplit('/', 1)[-1]!r} is not allowed by policy.",
            )
        return None

    def check_actor_token(self, present: bool) -> Deny | None:
        if self.require_actor_token and not present:
            return _deny(
                errors.ActorTokenRequired,
                "This key's policy requires a signed actor token (X-Oggy-Actor header).",
            )
        return None


def _enforced_rule(rule: str) -> property:
    return property(lambda policy: getattr(policy.enforced, rule), doc=f"Rules.{rule}, enforced.")


@dataclass(slots=True)
class EffectivePolicy:
    enforced: Rules = field(default_factory=Rules)
    shadow: Rules | None = None
    # Peers whose X-Forwarded-For is believed (union over the applying policies).
    trusted_proxies: tuple[IpNetwork, ...] = ()
    # Attribution permissions (enforced policies only): claims that may override a bound
    # actor's attributes, and whether X-Oggy-Tags / X-Oggy-Workflow are recorded.
    claim_overrides: frozenset[str] = frozenset()
    allow_labels: bool = False
    _models: dict[str, Decision] = field(default_factory=dict, repr=False)
    _providers: dict[str, Decision] = field(default_factory=dict, repr=False)
    _ips: dict[str, Decision] = field(default_factory=dict, repr=False)
    # check_actor_token's two answers (token absent, token present), decided once.
    _token: tuple[Decision, Decision] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._token = tuple(  # type: ignore[assignment]
            _layered(self.enforced.check_actor_token(p), self.shadow, "check_actor_token", p)
            for p in (False, True)
        )

    # Identity rules are read from the enforced policy alone: a shadow never gates tokens.
    replay_protection = _enforced_rule("replay_protection")
    require_actor_token = _enforced_rule("require_actor_token")

    @property
    def max_tokens_cap(self) -> int:
        """The bound to lower or set requests to (a CAP policy applies), 0 for none. With a
        REJECT policy merged in, a request over the bound is still refused first
        (`check_max_tokens` judges the bound the client asked for)."""
        rules = self.enforced
        return rules.max_output_tokens if rules.max_tokens_cap or rules.max_tokens_fill else 0

    def check_model(self, model: str) -> Decision:
        decision = self._models.get(model)
        if decision is None:
            decision = _layered(self.enforced.check_model(model), self.shadow, "check_model", model)
            if len(self._models) >= MODEL_CACHE_SIZE:
                # Bounded: drop the oldest entry (dicts keep insertion order).
                del self._models[next(iter(self._models))]
            self._models[model] = decision
        return decision

    def check_any_model(self, models: Sequence[str]) -> Decision:
        """Whether a request may go upstream under at least one of `models` (what a
        route alias resolves to, `RoutingTable.upstream_models`): the first allowed
        one's decision, else the first Deny; Allow for none. `permitted_targets` then
        drops the targets whose model is refused."""
        return _first_permitted(self.check_model(m) for m in models)

    @property
    def checks_ip(self) -> bool:
        return bool(
            self.enforced.allowed_networks or (self.shadow and self.shadow.allowed_networks)
        )

    def check_ip(self, ip: str) -> Decision:
        if not self.checks_ip:
            return ALLOW
        decision = self._ips.get(ip)
        if decision is None:
            addr = parse_ip(ip)
            decision = _layered(self.enforced.check_ip(addr), self.shadow, "check_ip", addr)
            if len(self._ips) >= IP_CACHE_SIZE:
                del self._ips[next(iter(self._ips))]
            self._ips[ip] = decision
        return decision

    def check_max_tokens(self, requested: int | None) -> Decision:
        """REJECT mode: Deny over the bound. In CAP mode use `max_tokens_cap` instead."""
        return _layered(
            self.enforced.check_max_tokens(requested), self.shadow, "check_max_tokens", requested
        )

    def check_provider(self, provider: str) -> Decision:
        """Whether `provider` (a resource name) may serve this request; routing calls it."""
        decision = self._providers.get(provider)
        if decision is None:
            decision = _layered(
                self.enforced.check_provider(provider), self.shadow, "check_provider", provider
            )
            if len(self._providers) >= MODEL_CACHE_SIZE:
                del self._providers[next(iter(self._providers))]
            self._providers[provider] = decision
        return decision

    def check_actor_token(self, present: bool) -> Decision:
        return self._token[present]


class ShadowRecord(Protocol):
    """Where a request keeps what a shadow policy would have blocked it for."""

    def shadow(self, reason: str) -> None: ...


def enforce(decision: Decision, rec: ShadowRecord | None = None) -> None:
    """Raise a Deny's error; record an Allow's shadow reason on `rec`, if given."""
    if isinstance(decision, Deny):
        raise decision.error()
    if rec is not None and decision.shadow_reason:
        rec.shadow(decision.shadow_reason)


def permitted_targets(
    policy: EffectivePolicy,
    targets: Sequence[T],
    provider_of: Callable[[T], str],
    model_of: Callable[[T], str] | None = None,
) -> tuple[tuple[T, ...], Decision]:
    """Routing targets the policy lets serve, in order, and what to enforce.

    A target is kept when the policy allows its provider and, given `model_of`,
    the model it is sent upstream under: a route alias is judged by the models
    it resolves to, never by its own name, so neither an alias nor a fallback
    reaches a model the policy refuses. With at least one kept the decision is
    an Allow (carrying a shadow reason if a shadow policy would refuse the first
    one); with none, the first Deny (`provider_not_allowed`, `model_not_allowed`).
    """
    kept: list[T] = []
    decisions: list[Decision] = []
    for target in targets:
        decision = policy.check_provider(provider_of(target))
        if model_of is not None and not isinstance(decision, Deny):
            decision = _both(policy.check_model(model_of(target)), decision)
        decisions.append(decision)
        if not isinstance(decision, Deny):
            kept.append(target)
    return tuple(kept), _first_permitted(decisions)


def _both(first: Decision, second: Decision) -> Decision:
    """Two checks of one target: a Deny wins, then the first shadow reason."""
    if isinstance(first, Deny):
        return first
    if isinstance(second, Deny) or not first.shadow_reason:
        return second
    return first


def _first_permitted(decisions: Iterable[Decision]) -> Decision:
    """Among alternatives: the first Allow, else the first Deny; Allow when there are none."""
    first_deny: Deny | None = None
    for decision in decisions:
        if not isinstance(decision, Deny):
            return decision
        first_deny = first_deny or decision
    return ALLOW if first_deny is None else first_deny


def cap_max_tokens_fields(body: dict[str, Any], fields: Sequence[str], cap: int) -> bool:
    """Apply a CAP bound to a parsed request body in place; True when it changed.

    `fields` are the endpoint's output-token fields, preferred first (chat:
    `max_completion_tokens`, `max_tokens`; responses: `max_output_tokens`).
    Every present field over the cap (or not an integer) is lowered; when none
    is present the first is set to the cap.
    """
    if not cap:
        return False
    changed = False
    present = False
    for name in fields:
        value = body.get(name)
        if value is None:
            continue
        present = True
        # A value that is not a plain int is not trusted to be under the cap.
        capped = capped_max_tokens(value, cap) if type(value) is int else cap
        if capped != value or type(value) is not int:
            body[name] = capped
            changed = True
    if not present and fields:
        body[fields[0]] = cap
        changed = True
    return changed


def capped_max_tokens(requested: int | None, cap: int) -> int | None:
    """The output-token bound to forward under a CAP policy (`cap` 0 = no cap).

    A request over the cap, or one that names no bound at all, gets the cap; a
    smaller request is left as it is.
    """
    if not cap:
        return requested
    if requested is None or requested > cap:
        return cap
    return requested


def _layered(enforced: Deny | None, shadow: Rules | None, check: str, arg: object) -> Decision:
    if enforced is not None:
        return enforced
    if shadow is not None:
        would = getattr(shadow, check)(arg)
        if would is not None:
            return Allow(shadow_reason=would.reason)
    return ALLOW


def parse_ip(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def parse_networks(cidrs: Iterable[str], what: str) -> tuple[IpNetwork, ...]:
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c, strict=False))
        except ValueError as e:
            raise PolicyError(f"{what}: bad CIDR {c!r}: {e}") from e
    return tuple(out)


def compile_rules(policies: Sequence[policy_pb2.Policy]) -> Rules:
    allowed = []
    denied: list[str] = []
    networks = []
    require_token = False
    replay = False
    providers: frozenset[str] | None = None
    for p in policies:
        try:
            if p.allowed_models:
                pattern = compile_globs(p.allowed_models)
                assert pattern is not None
                allowed.append(pattern)
            compile_globs(p.denied_models)  # validates, names the failing policy
        except GlobError as e:
            raise PolicyError(f"policy {p.name}: {e}") from e
        denied.extend(p.denied_models)
        if p.allowed_cidrs:
            networks.append(parse_networks(p.allowed_cidrs, f"policy {p.name} allowed_cidrs"))
        require_token = require_token or p.require_actor_token
        replay = replay or p.replay_protection
        if p.allowed_providers:
            names = _provider_names(p)
            providers = names if providers is None else providers & names
    max_tokens, cap, fill = output_token_bound(policies)
    return Rules(
        allowed_models=tuple(allowed),
        denied_models=compile_globs(denied),
        allowed_networks=tuple(networks),
        max_output_tokens=max_tokens,
        max_tokens_cap=cap,
        max_tokens_fill=fill,
        require_actor_token=require_token,
        allowed_providers=providers,
        replay_protection=replay,
    )


def output_token_bound(policies: Iterable[policy_pb2.Policy]) -> tuple[int, bool, bool]:
    """The smallest non-zero `max_output_tokens` (0: no bound); whether a request over it
    is lowered to it (CAP) rather than refused: only if every policy with a bound says
    CAP, since a bound without a mode rejects; and whether a request naming no bound gets
    it: if any policy with a bound says CAP (merging in a REJECT policy must not let an
    unbounded request through that the CAP policy alone would have bounded)."""
    bound = 0
    all_cap = True
    any_cap = False
    for p in policies:
        if p.max_output_tokens < 0:
            raise PolicyError(f"policy {p.name}: max_output_tokens must not be negative")
        if not p.max_output_tokens:
            continue
        if not bound or p.max_output_tokens < bound:
            bound = p.max_output_tokens
        is_cap = p.max_tokens_mode == _Policy.MAX_TOKENS_MODE_CAP
        all_cap = all_cap and is_cap
        any_cap = any_cap or is_cap
    return bound, bool(bound) and all_cap, any_cap


def _provider_names(p: policy_pb2.Policy) -> frozenset[str]:
    workspace: WorkspaceName | None
    try:
        workspace = parse_child_name(p.name, Collection.POLICIES).parent
    except InvalidName:
        workspace = None  # a lone policy checked without its name (tests, what-ifs)
    out = set()
    for name in p.allowed_providers:
        if workspace is not None and Collection.PROVIDERS.valid_id(name):
            out.add(str(workspace.child(Collection.PROVIDERS, name)))
            continue
        try:
            owner: WorkspaceName | None = parse_child_name(name, Collection.PROVIDERS).parent
        except InvalidName:
            owner = None
        if owner is None or (workspace is not None and owner != workspace):
            raise PolicyError(
                f"policy {p.name}: allowed_providers entry {name!r} is not a provider "
                f"of {workspace or 'its workspace'}"
            )
        out.add(name)
    return frozenset(out)


def _claim_overrides(p: policy_pb2.Policy) -> set[str]:
    out = set()
    for claim in p.actor_claim_overrides:
        claim = _CLAIM_ALIASES.get(claim, claim)
        if claim not in CLAIM_OVERRIDES:
            raise PolicyError(
                f"policy {p.name}: actor_claim_overrides entry {claim!r} is not one of "
                f"{', '.join(sorted(CLAIM_OVERRIDES))}"
            )
        out.add(claim)
    return out


def labels_grant(p: policy_pb2.Policy) -> bool | None:
    """A policy's own say on recording labels: True, False or None (no say).

    `record_labels` decides; a policy from before it existed said only what the
    deprecated `allow_labels` could say: `true` grants, its default is no say.
    """
    value = p.record_labels
    if value == _Policy.GRANT_ALLOW:
        return True
    if value == _Policy.GRANT_DENY:
        return False
    if value != _Policy.GRANT_UNSPECIFIED:
        raise PolicyError(f"policy {p.name}: unknown record_labels value {value}")
    return True if p.allow_labels else None


def merge_grant(settings: Iterable[bool | None]) -> bool:
    """A permission over the applying policies' settings (see the module docstring)."""
    granted = False
    for setting in settings:
        if setting is False:
            return False
        granted = granted or setting is True
    return granted


def labels_allowed(policies: Iterable[policy_pb2.Policy]) -> bool:
    """Whether `policies` (the enforced ones that apply) let a request record labels."""
    return merge_grant(labels_grant(p) for p in policies)


def compile_effective(policies: Sequence[policy_pb2.Policy]) -> EffectivePolicy:
    """Merge the policies that apply to one key, most restrictive winning."""
    enforced = [p for p in policies if not p.shadow]
    shadow = [p for p in policies if p.shadow]
    trusted: list[IpNetwork] = []
    overrides: set[str] = set()
    for p in policies:
        trusted.extend(
            parse_networks(p.trusted_proxy_cidrs, f"policy {p.name} trusted_proxy_cidrs")
        )
        claims = _claim_overrides(p)  # validated for shadow policies too
        labels_grant(p)  # likewise
        if not p.shadow:
            overrides |= claims
    return EffectivePolicy(
        enforced=compile_rules(enforced),
        shadow=compile_rules(shadow) if shadow else None,
        trusted_proxies=tuple(dict.fromkeys(trusted)),
        claim_overrides=frozenset(overrides),
        allow_labels=labels_allowed(enforced),
    )


def client_ip(peer: str, forwarded_for: str | None, trusted: Sequence[IpNetwork]) -> str:
    """The caller's address: the socket peer, unless the peer is a trusted proxy.

    Walks X-Forwarded-For from the right (the hop nearest us) past trusted
    proxies; the first untrusted address is the client. An unsigned header
    from an untrusted peer is ignored.
    """
    if not trusted or not forwarded_for:
        return peer
    addr = parse_ip(peer)
    if addr is None or not any(addr in n for n in trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")]
    candidate = peer
    for hop in reversed(hops):
        hop_addr = parse_ip(hop)
        if hop_addr is None:
            return candidate
        candidate = hop
        if not any(hop_addr in n for n in trusted):
            return hop
    return candidate
