"""The effective policy of a workspace, actor or key, as one Policy proto. Pure.

Which policies apply mirrors the data plane's compiler
(`oggy.contract.compile`): a key gets its workspace's policies, those of its
actor's teams, its actor's, and its own; an actor gets the workspace's, its
teams' and its own; a workspace only its own. They merge as
`oggy.contract.policy` documents, most restrictive winning, with `shadow`
policies merged into a separate layer:

- allowed lists (`allowed_models`, `allowed_cidrs`, `allowed_providers`): every
  non-empty list must admit a request, so they intersect. Globs and CIDRs cannot
  be intersected exactly in general, so the proto shows the most specific
  non-empty list (the one from the most specific policy: key over actor over
  team over workspace); when several apply, the data plane still checks every
  one of them, so the proto is a summary, not the full rule. Provider names
  are exact and are intersected exactly; an empty intersection shows as `[""]`
  (a list that admits no provider — an empty list would read as "any").
- denied lists and trusted proxies: union.
- `max_output_tokens` and `max_tokens_mode`: the contract's
  `output_token_bound`, the very rule the data plane enforces.
- booleans (`require_actor_token`, `replay_protection`): OR.
- grants (`record_labels`): decided by the contract's own rule
  (`oggy.contract.policy.labels_allowed`: a deny anywhere denies, else an allow
  anywhere grants), shown as an explicit GRANT_ALLOW or GRANT_DENY (and the
  deprecated `allow_labels` bool, for older readers).
- prompt logging (`prompt_logging`, `prompt_retention`, `redaction_rules`): the
  contract's own merge (`oggy.contract.prompt_logging.merge_prompt_settings`,
  what the data plane enforces): the least logging wins (OFF < METADATA <
  FULL), the shortest retention (a zero one reads as unset; whole seconds,
  rounded up), the union of the distinct (name, pattern) rules; what no
  policy sets stays unset (METADATA, 30 days). Shadow policies have no say.
Budgets and rate limits are not policy fields: they are resources of their own
(`Budget`, `Limit`) that count a scope's aggregate traffic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oggy.contract.policy import labels_allowed, output_token_bound
from oggy.contract.prompt_logging import merge_prompt_settings
from oggy.v1 import policy_pb2

Policy = policy_pb2.Policy


@dataclass(frozen=True, slots=True)
class Layer:
    """Policies attached to one target, most general layer first."""

    target: str
    policies: tuple[Policy, ...]


@dataclass(frozen=True, slots=True)
class Effective:
    policy: Policy
    shadow_policy: Policy | None
    sources: tuple[str, ...]


def targets_for(
    workspace: str, teams: Sequence[str] = (), actor: str = "", key: str = ""
) -> tuple[str, ...]:
    """Targets whose policies apply, most general first (workspace → teams → actor → key)."""
    out = [workspace, *teams]
    if actor:
        out.append(actor)
    if key:
        out.append(key)
    return tuple(dict.fromkeys(out))


def merge(name: str, target: str, layers: Sequence[Layer]) -> Effective:
    """Merge the policies of `layers` (ordered most general first)."""
    ordered = [p for layer in layers for p in sorted(layer.policies, key=lambda p: p.name)]
    ordered = list({p.name: p for p in ordered}.values())  # a policy counts once
    enforced = [p for p in ordered if not p.shadow]
    shadow = [p for p in ordered if p.shadow]
    merged = merge_policies(enforced, name, target)
    merged_shadow = merge_policies(shadow, name, target, shadow=True) if shadow else None
    return Effective(merged, merged_shadow, tuple(p.name for p in ordered))


def merge_policies(
    policies: Sequence[Policy], name: str, target: str, shadow: bool = False
) -> Policy:
    """One Policy equivalent (or, for glob/CIDR allowlists, conservative) to `policies`."""
    out = Policy(name=name, target=target, shadow=shadow)
    _most_specific_list(out, policies, "allowed_models")
    _most_specific_list(out, policies, "allowed_cidrs")
    _intersect(out, policies, "allowed_providers")
    _union(out, policies, "denied_models")
    _union(out, policies, "trusted_proxy_cidrs")
    _union(out, policies, "actor_claim_overrides")
    bound, cap, _ = output_token_bound(policies)
    if bound:
        out.max_output_tokens = bound
        out.max_tokens_mode = Policy.MAX_TOKENS_MODE_CAP if cap else Policy.MAX_TOKENS_MODE_REJECT
    out.require_actor_token = any(p.require_actor_token for p in policies)
    out.replay_protection = any(p.replay_protection for p in policies)
    if not shadow:  # a shadow layer only tries out blocking rules: it grants nothing
        labels = labels_allowed(policies)
        out.record_labels = Policy.GRANT_ALLOW if labels else Policy.GRANT_DENY
        out.allow_labels = labels
    _prompt_settings(out, policies)
    return out


def _prompt_settings(out: Policy, policies: Sequence[Policy]) -> None:
    prompt = merge_prompt_settings(policies)
    if prompt.mode is not None:
        out.prompt_logging = prompt.mode
    if prompt.retention_s is not None:
        out.prompt_retention.seconds = prompt.retention_s
    out.redaction_rules.extend(
        policy_pb2.RedactionRule(name=name, pattern=pattern) for name, pattern in prompt.rules
    )


def _most_specific_list(out: Policy, policies: Sequence[Policy], field: str) -> None:
    for p in reversed(policies):  # most specific first
        values = getattr(p, field)
        if values:
            getattr(out, field).extend(values)
            return


def _intersect(out: Policy, policies: Sequence[Policy], field: str) -> None:
    lists = [list(getattr(p, field)) for p in policies if getattr(p, field)]
    if not lists:
        return
    common = [v for v in dict.fromkeys(lists[0]) if all(v in other for other in lists[1:])]
    if not common:
        # Nothing is allowed by all of them; an empty list would read as "any".
        common = [""]
    getattr(out, field).extend(common)


def _union(out: Policy, policies: Sequence[Policy], field: str) -> None:
    values = dict.fromkeys(v for p in policies for v in getattr(p, field))
    getattr(out, field).extend(values)
