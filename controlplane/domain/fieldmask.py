"""Update masks (AIP-134): which fields an update may touch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from controlplane.domain.errors import InvalidArgument

# Fields a client may change on a Policy; output-only fields are not in here.
POLICY_UPDATABLE = (
    "target",
    "allowed_models",
    "denied_models",
    "allowed_cidrs",
    "trusted_proxy_cidrs",
    "max_output_tokens",
    "require_actor_token",
    "shadow",
    "allowed_providers",
    "max_tokens_mode",
    "prompt_logging",
    "prompt_retention",
    "redaction_rules",
    "actor_claim_overrides",
    "allow_labels",
    "record_labels",
    "replay_protection",
)


def resolve_mask(
    paths: Sequence[str], updatable: Iterable[str], populated: Iterable[str]
) -> tuple[str, ...]:
    """The fields to copy from the request.

    An empty mask means "the fields the request populated" and `*` means every
    updatable field (full replacement), as AIP-134 prescribes.
    """
    allowed = tuple(updatable)
    if not paths:
        chosen = set(populated)
        return tuple(f for f in allowed if f in chosen)
    if "*" in paths:
        if len(paths) != 1:
            raise InvalidArgument("update_mask '*' cannot be combined with other paths")
        return allowed
    unknown = sorted(set(paths) - set(allowed))
    if unknown:
        raise InvalidArgument(f"update_mask has fields that cannot be updated: {unknown}")
    return tuple(f for f in allowed if f in set(paths))


ACTOR_UPDATABLE = ("display_name", "teams", "disabled")

PROVIDER_UPDATABLE = (
    "display_name",
    "base_url",
    "models",
    "api_key",
    "api_version",
    "deployments",
    "allow_private_network",
    "timeouts",  # replaced whole; `oggy provider update` merges before it sends
)

# Scopes are replaced whole (`oggy limit|budget update` merges before it sends).
LIMIT_UPDATABLE = (
    "scope",
    "counted_per",
    "metric",
    "capacity",
    "window",
    "shadow",
    "description",
)

BUDGET_UPDATABLE = (
    "scope",
    "counted_per",
    "amount_micro_usd",
    "period",
    "enforcement",
    "threshold_percents",
    "description",
)
