"""A stable, secret-free JSON summary of a CompiledConfig, for golden files.

It says what the compiler decided rather than how it stores it: per key, its
workspace, actor and what its effective policy does with each model and
provider the workspace serves; per workspace, its providers (no API keys:
only the names of the headers carrying them), routes, listed models, price
version, actors, signing key ids and quota rules (limits and budgets); and the
warnings. No secret (API key, HMAC secret, gateway key hash) is ever read into it.
"""

from __future__ import annotations

from typing import Any

from oggy.contract.compile import (
    CompiledConfig,
    CompiledKey,
    CompiledProvider,
    CompiledWorkspace,
    LenientCompile,
)
from oggy.contract.compile.quota import QuotaRule
from oggy.contract.dialects import ANTHROPIC_FAMILY
from oggy.contract.globs import is_glob
from oggy.contract.identity import WorkspaceIdentity
from oggy.contract.names import Collection, claimed_workspace, parse_child_name
from oggy.contract.policy import Deny, EffectivePolicy, permitted_targets
from oggy.contract.pricing import TokenCounts
from oggy.contract.routing import Target

Summary = dict[str, Any]
PROVIDERS = Collection.PROVIDERS
SAMPLE_TIME = 1_800_000_000  # 2027-01-15: after every price's effective time in the cases
SAMPLE_TOKENS = TokenCounts(input=1_000_000, output=1_000_000)


def summarize(config: CompiledConfig, workspace: str | None = None) -> Summary:
    """The summary of the whole config, or of only `workspace`'s part of it."""

    def mine(name: str) -> bool:
        return workspace is None or claimed_workspace(name) == workspace

    return {
        "revision": config.revision,
        "workspaces": {
            name: _workspace(ws, config.identities[name])
            for name, ws in sorted(config.workspaces.items())
            if mine(name)
        },
        "keys": {
            key_id: _key(key) for key_id, key in sorted(config.keys_by_id.items()) if mine(key.name)
        },
        "warnings": [str(w) for w in config.compile_warnings if mine(w.resource)],
    }


def summarize_lenient(result: LenientCompile) -> Summary:
    """What still serves when some workspaces are held back, and why they are."""
    config, errors = result
    return {
        "held_back": {name: str(e) for name, e in sorted(errors.items())},
        "serving": {
            name: sorted(k.key_id for k in config.keys_by_id.values() if k.workspace_name == name)
            for name in sorted(config.workspaces)
        },
    }


def _workspace(ws: CompiledWorkspace, identity: WorkspaceIdentity) -> Summary:
    return _compact(
        {
            "providers": [
                _compact(
                    {
                        "name": p.name,
                        "kind": p.kind_name,
                        "family": p.family,
                        "base_url": p.base_url,
                        "sample_url": _sample_url(p),
                        "models": list(p.models),
                        "auth_headers": sorted(p.auth_headers),
                    }
                )
                for p in ws.providers
            ],
            "routes": {
                alias: [[t.provider.name, t.model] for t in targets]
                for alias, targets in sorted(ws.routing.routes.items())
            },
            "listed_models": {model: p.name for model, p in ws.models},
            "price_version": ws.prices.version,
            "sample_costs": {model: _sample_cost(ws, p, model) for model, p in ws.models},
            "actors": {
                name: _compact(
                    {
                        "teams": list(a.teams),
                        "team": a.attribution.team,
                        "disabled": a.disabled,
                        "policies": list(a.policy_names),
                    }
                )
                for name, a in sorted(identity.actors.items())
                if name == a.name  # each actor once (also indexed by bare id)
            },
            "signing_keys": identity.verifier.key_algorithms if identity.verifier else {},
            "quota": {rule.name: _rule(rule) for rule in ws.quota.rules},
        }
    )


def _rule(rule: QuotaRule) -> Summary:
    """A limit or budget as compiled: what it counts, over which window, for whom."""
    window = rule.window(SAMPLE_TIME)
    return _compact(
        {
            "metric": rule.metric.value,
            "capacity": rule.capacity,
            "mode": rule.mode.value,
            "per": rule.per.value,
            "scope": _compact(
                {
                    "team": rule.scope.team,
                    "actor": rule.scope.actor,
                    "key": rule.scope.key,
                    "app": rule.scope.app,
                    "environment": rule.scope.environment,
                    "workflow": rule.scope.workflow,
                    "model": rule.scope.model_glob,
                    "provider": rule.scope.provider,
                }
            ),
            "describe": rule.describe(),
            "window_s": rule.window_s,
            "period": rule.period.value if rule.period else "",
            "thresholds": list(rule.thresholds),
            "sample_window": [window.start, window.reset],
        }
    )


def _sample_url(p: CompiledProvider) -> str:
    """Where a request for the provider's first concrete model goes."""
    op = "messages" if p.family == ANTHROPIC_FAMILY else "chat/completions"
    return str(p.url(op, next((m for m in p.models if not is_glob(m)), "m")))


def _sample_cost(ws: CompiledWorkspace, p: CompiledProvider, model: str) -> int | None:
    """micro-USD of 1M input and 1M output tokens, at SAMPLE_TIME, as served by `p`."""
    route = ws.routing.routes.get(model)
    if route:  # an alias is priced as the model its first target serves
        p, model = route[0].provider, route[0].model
    cost = ws.prices.price(p.kind_name, model, SAMPLE_TIME, SAMPLE_TOKENS)
    return None if cost is None else cost.micro_usd


def _key(key: CompiledKey) -> Summary:
    prompt = key.prompt_logging
    return _compact(
        {
            "name": key.name,
            "workspace": key.workspace_name,
            "actor": key.actor,
            "environment": key.environment,
            "revoked": key.revoked,
            "expire_s": key.expire_s,
            "actor_disabled": key.actor_disabled,
            "previous_secret_until": key.previous_expire_s,
            "policies": list(key.policy_names),
            "policy": _policy(key.policy, key.workspace),
            "prompt_logging": _compact(
                {
                    "mode": prompt.mode.name,
                    "retention_s": prompt.retention_s,
                    "redaction_rules": list(prompt.redactor.rules) if prompt.redactor else [],
                }
            ),
        }
    )


def _policy(policy: EffectivePolicy, ws: CompiledWorkspace) -> Summary:
    """What the policy does with each model (aliases included) and provider served."""
    rules = policy.enforced
    models = sorted({m for m, _ in ws.models} | set(ws.routing.routes))
    return _compact(
        {
            "models": {m: _model(policy, ws, m) for m in models},
            "providers": {p.name: _decision(policy.check_provider(p.name)) for p in ws.providers},
            "allowed_cidrs": [[str(n) for n in nets] for nets in rules.allowed_networks],
            "trusted_proxies": [str(n) for n in policy.trusted_proxies],
            "max_output_tokens": rules.max_output_tokens,
            "max_tokens_cap": rules.max_tokens_cap,
            "require_actor_token": policy.require_actor_token,
            "replay_protection": policy.replay_protection,
            "claim_overrides": sorted(policy.claim_overrides),
            "allow_labels": policy.allow_labels,
            "has_shadow_layer": policy.shadow is not None,
        }
    )


def _model(policy: EffectivePolicy, ws: CompiledWorkspace, model: str) -> str:
    """The decision on a requested model; for a route alias, also the targets it keeps
    (as the proxy does: check_any_model, then permitted_targets)."""
    decision = policy.check_any_model(ws.routing.upstream_models(model))
    route = ws.routing.routes.get(model)
    if route is None or isinstance(decision, Deny):
        return _decision(decision)
    kept, final = permitted_targets(policy, route, _provider_of, _model_of)
    if isinstance(final, Deny):
        return _decision(final)
    via = (f"{parse_child_name(t.provider.name, PROVIDERS).resource_id}:{t.model}" for t in kept)
    return f"{_decision(decision)} via {', '.join(via)}"


def _provider_of(target: Target[CompiledProvider]) -> str:
    return target.provider.name


def _model_of(target: Target[CompiledProvider]) -> str:
    return target.model


def _decision(decision: object) -> str:
    if isinstance(decision, Deny):
        return f"deny: {decision.reason}"
    shadow = getattr(decision, "shadow_reason", "")
    return f"allow (shadow would deny: {shadow})" if shadow else "allow"


def _compact(fields: Summary) -> Summary:
    """Without the fields at their defaults, so a golden file shows what is set."""
    return {k: v for k, v in fields.items() if v not in (None, False, "", 0, [], {})}
