"""Effective policy: merged at config time, decided per request in microseconds.

The policies that apply to a key (its workspace's, its actor's teams', its
actor's, its own) merge with the most restrictive winning:
- every non-empty `allowed_models` list must match (so lists intersect),
- any `denied_models` glob denies,
- every non-empty `allowed_cidrs` list must contain the client address,
- the smallest non-zero `max_output_tokens` bounds the request,
- `require_actor_token` anywhere requires it.
Policies with `shadow` set merge into a separate layer that is evaluated and
reported (`Allow.shadow_reason`) but never blocks. Model decisions are
memoised per model string in a bounded dict.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dataplane.core import errors
from dataplane.core.globs import GlobError, compile_globs
from oggy.v1 import policy_pb2

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MODEL_CACHE_SIZE = 1024


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
}


def _deny(cls: type[errors.GatewayError], message: str) -> Deny:
    return Deny(cls.code, cls.status, message)


@dataclass(frozen=True, slots=True)
class Rules:
    """One merged layer (enforced or shadow)."""

    allowed_models: tuple[re.Pattern[str], ...] = ()
    denied_models: re.Pattern[str] | None = None
    allowed_networks: tuple[tuple[IpNetwork, ...], ...] = ()
    max_output_tokens: int = 0
    require_actor_token: bool = False

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
        if self.max_output_tokens and requested is not None and requested > self.max_output_tokens:
            return _deny(
                errors.MaxTokensExceeded,
                f"Requested {requested} output tokens; policy allows at most "
                f"{self.max_output_tokens}.",
            )
        return None


@dataclass(slots=True)
class EffectivePolicy:
    enforced: Rules = field(default_factory=Rules)
    shadow: Rules | None = None
    # Peers whose X-Forwarded-For is believed (union over the applying policies).
    trusted_proxies: tuple[IpNetwork, ...] = ()
    _models: dict[str, Decision] = field(default_factory=dict, repr=False)

    def check_model(self, model: str) -> Decision:
        decision = self._models.get(model)
        if decision is None:
            decision = _layered(self.enforced.check_model(model), self.shadow, "check_model", model)
            if len(self._models) >= MODEL_CACHE_SIZE:
                # Bounded: drop the oldest entry (dicts keep insertion order).
                del self._models[next(iter(self._models))]
            self._models[model] = decision
        return decision

    @property
    def checks_ip(self) -> bool:
        return bool(
            self.enforced.allowed_networks or (self.shadow and self.shadow.allowed_networks)
        )

    def check_ip(self, ip: str) -> Decision:
        if not self.checks_ip:
            return ALLOW
        addr = parse_ip(ip)
        return _layered(self.enforced.check_ip(addr), self.shadow, "check_ip", addr)

    def check_max_tokens(self, requested: int | None) -> Decision:
        return _layered(
            self.enforced.check_max_tokens(requested), self.shadow, "check_max_tokens", requested
        )


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
    max_tokens = 0
    require_token = False
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
        if p.max_output_tokens < 0:
            raise PolicyError(f"policy {p.name}: max_output_tokens must not be negative")
        if p.max_output_tokens and (not max_tokens or p.max_output_tokens < max_tokens):
            max_tokens = p.max_output_tokens
        require_token = require_token or p.require_actor_token
    return Rules(
        allowed_models=tuple(allowed),
        denied_models=compile_globs(denied),
        allowed_networks=tuple(networks),
        max_output_tokens=max_tokens,
        require_actor_token=require_token,
    )


def compile_effective(policies: Sequence[policy_pb2.Policy]) -> EffectivePolicy:
    """Merge the policies that apply to one key, most restrictive winning."""
    enforced = [p for p in policies if not p.shadow]
    shadow = [p for p in policies if p.shadow]
    trusted: list[IpNetwork] = []
    for p in policies:
        trusted.extend(
            parse_networks(p.trusted_proxy_cidrs, f"policy {p.name} trusted_proxy_cidrs")
        )
    return EffectivePolicy(
        enforced=compile_rules(enforced),
        shadow=compile_rules(shadow) if shadow else None,
        trusted_proxies=tuple(dict.fromkeys(trusted)),
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
