"""What `oggy policy set|show` is asked for: the target, and the settings as a Policy plus
its update mask. Pure (no I/O), so every flag is tested without a server.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from controlplane.cli import names, parsing
from controlplane.cli.errors import CliError
from oggy.v1 import policy_pb2

Policy = policy_pb2.Policy
MAX_TOKENS_MODES = {
    "cap": Policy.MaxTokensMode.MAX_TOKENS_MODE_CAP,
    "reject": Policy.MaxTokensMode.MAX_TOKENS_MODE_REJECT,
}
PROMPT_LOGGING = {
    "off": Policy.PromptLogging.PROMPT_LOGGING_OFF,
    "metadata": Policy.PromptLogging.PROMPT_LOGGING_METADATA,
    "full": Policy.PromptLogging.PROMPT_LOGGING_FULL,
}
# A grant's three settings; `no` denies whatever other policies say, `inherit` has no say.
GRANTS = {
    "yes": Policy.Grant.GRANT_ALLOW,
    "no": Policy.Grant.GRANT_DENY,
    "inherit": Policy.Grant.GRANT_UNSPECIFIED,
}
CLAIMS = ("team", "app", "env", "workflow")
_RULE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
SHADOW_SUFFIX = "-shadow"


# --- target -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What a policy attaches to: its resource name and the default policy id for it."""

    name: str
    default_id: str
    explicit: bool


def resolve_target(args: argparse.Namespace, workspace: str) -> Target:
    """`--team`/`--actor`/`--key` (or the workspace) → Target; pure."""
    shadow = SHADOW_SUFFIX if getattr(args, "shadow", False) else ""
    if args.team:
        name = names.child_name(workspace, "actors", args.team)
        kind = "team"
    elif args.actor:
        name = names.child_name(workspace, "actors", args.actor)
        kind = "actor"
    elif args.key:
        name = names.key_name(workspace, args.key)
        kind = "key"
    else:
        return Target(names.workspace_name(workspace), f"ws{shadow}", explicit=False)
    policy_id = f"{kind}-{names.short_id(name)}{shadow}"
    if len(policy_id) > 63:
        policy_id = ""  # too long for an id: the caller asks for --name
    return Target(name, policy_id, explicit=True)


def target_label(workspace: str, target: str) -> str:
    """`workspace`, `actors/alice`, `keys/k…`: the target relative to the workspace."""
    if target == workspace:
        return "workspace"
    return target.removeprefix(f"{workspace}/")


# --- changes ------------------------------------------------------------------------


def parse_redaction(text: str) -> policy_pb2.RedactionRule:
    """`NAME=REGEX` → RedactionRule (the regex is checked here as a courtesy; RE2 on the server)."""
    name, sep, pattern = text.partition("=")
    if not sep or not _RULE_NAME.fullmatch(name) or not pattern:
        raise CliError(f"invalid --redact {text!r}: expected NAME=REGEX, e.g. ticket=TKT-[0-9]+")
    try:
        re.compile(pattern)
    except re.error as e:
        raise CliError(f"invalid --redact {name}: bad regular expression ({e})") from None
    return policy_pb2.RedactionRule(name=name, pattern=pattern)


def build_changes(args: argparse.Namespace, workspace: str) -> tuple[Policy, list[str]]:
    """The flags given → a Policy holding them and the update-mask paths, in flag order."""
    policy = Policy()
    paths: list[str] = []

    def set_list(values: list[str] | None, field: str) -> None:
        if values is not None:
            getattr(policy, field).extend(parsing.split_list(values))
            paths.append(field)

    set_list(args.allow_models, "allowed_models")
    set_list(args.deny_models, "denied_models")
    set_list(args.allow_cidrs, "allowed_cidrs")
    set_list(args.trusted_proxies, "trusted_proxy_cidrs")
    if args.require_actor_token is not None:
        policy.require_actor_token = args.require_actor_token
        paths.append("require_actor_token")
    if args.max_output_tokens is not None:
        if args.max_output_tokens < 0:
            raise CliError("--max-output-tokens must not be negative (0: no bound)")
        policy.max_output_tokens = args.max_output_tokens
        paths.append("max_output_tokens")
    if args.max_tokens_mode is not None:
        policy.max_tokens_mode = MAX_TOKENS_MODES[args.max_tokens_mode]
        paths.append("max_tokens_mode")
    if args.allow_providers is not None:
        policy.allowed_providers.extend(
            names.child_name(workspace, "providers", p)
            for p in parsing.split_list(args.allow_providers)
        )
        paths.append("allowed_providers")
    if args.prompt_logging is not None:
        policy.prompt_logging = PROMPT_LOGGING[args.prompt_logging]
        paths.append("prompt_logging")
    if args.prompt_retention is not None:
        policy.prompt_retention.CopyFrom(parsing.duration_proto(args.prompt_retention))
        paths.append("prompt_retention")
    if args.redact is not None:
        policy.redaction_rules.extend(parse_redaction(r) for r in args.redact)
        paths.append("redaction_rules")
    if args.claim_overrides is not None:
        claims = parsing.split_list(args.claim_overrides)
        unknown = [c for c in claims if c not in CLAIMS]
        if unknown:
            raise CliError(f"invalid --claim-overrides {unknown}: choose from {', '.join(CLAIMS)}")
        policy.actor_claim_overrides.extend(dict.fromkeys(claims))
        paths.append("actor_claim_overrides")
    if args.allow_labels is not None:
        policy.record_labels = GRANTS[args.allow_labels]
        # The deprecated bool is cleared with it: a `true` left there would still grant.
        paths += ["record_labels", "allow_labels"]
    if args.replay_protection is not None:
        policy.replay_protection = args.replay_protection
        paths.append("replay_protection")
    return policy, paths
