"""`oggy policy set|show|list|delete`: rules attached to the workspace, a team, an actor or a key.

`policy set` is create-or-update: the first `set` for a target creates its policy (id
`ws`, `team-<id>`, `actor-<id>` or `key-<id>`, `-shadow` appended for a shadow policy,
or `--name`); later ones send UpdatePolicy with an update mask of exactly the flags
given, so settings not named on the command line are left alone. A list flag given with
no values (`--allow-models`) clears that list; `--no-require-actor-token` and friends
turn a switch off. A permission (`--allow-labels yes|no|inherit`) has three settings:
`no` denies it whatever other policies say, `inherit` leaves the say to them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.cli import names, output, parsing
from controlplane.cli.admin_client import list_all
from controlplane.cli.commands.common import emit_all, print_deleted, request_id
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.commands.policy_spec import (
    CLAIMS,
    GRANTS,
    MAX_TOKENS_MODES,
    PROMPT_LOGGING,
    Policy,
    Target,
    build_changes,
    resolve_target,
    target_label,
)
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.contract.policy import PolicyError, labels_grant
from oggy.v1 import actor_pb2, admin_service_pb2

# --- display ------------------------------------------------------------------------


def _mode(p: Policy) -> str:
    for label, value in MAX_TOKENS_MODES.items():
        if value == p.max_tokens_mode:
            return label
    return ""


def _logging(p: Policy) -> str:
    for label, value in PROMPT_LOGGING.items():
        if value == p.prompt_logging:
            return label
    return ""


def _any(values: Sequence[str]) -> str:
    return ",".join(values) if values else "any"


def _providers(p: Policy) -> str:
    return _any([names.short_id(n) for n in p.allowed_providers])


def _retention(p: Policy) -> str:
    return (
        parsing.format_duration(p.prompt_retention.seconds)
        if p.HasField("prompt_retention")
        else ""
    )


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _labels(p: Policy) -> str:
    try:
        grant = labels_grant(p)
    except PolicyError:
        return str(p.record_labels)  # a value newer than this CLI
    return "inherit" if grant is None else _yes(grant)


def detail_columns(workspace: str) -> list[output.Column]:
    return [
        ("name", lambda p: p.name),
        ("target", lambda p: target_label(workspace, p.target) if p.target else ""),
        ("shadow", lambda p: _yes(p.shadow)),
        ("allowed models", lambda p: _any(p.allowed_models)),
        ("denied models", lambda p: list(p.denied_models)),
        ("allowed cidrs", lambda p: _any(p.allowed_cidrs)),
        ("trusted proxies", lambda p: list(p.trusted_proxy_cidrs)),
        ("allowed providers", _providers),
        ("require actor token", lambda p: _yes(p.require_actor_token)),
        ("claim overrides", lambda p: list(p.actor_claim_overrides)),
        ("replay protection", lambda p: _yes(p.replay_protection)),
        ("max output tokens", lambda p: p.max_output_tokens or ""),
        ("max tokens mode", _mode),
        ("prompt logging", _logging),
        ("prompt retention", _retention),
        ("redaction rules", lambda p: [r.name for r in p.redaction_rules]),
        ("allow labels", _labels),
        ("updated", lambda p: output.fmt_time(p.update_time)),
    ]


def list_columns(workspace: str) -> list[output.Column]:
    return [
        ("id", lambda p: names.short_id(p.name)),
        ("target", lambda p: target_label(workspace, p.target)),
        ("shadow", lambda p: "yes" if p.shadow else ""),
        ("allowed models", lambda p: _any(p.allowed_models)),
        ("denied", lambda p: list(p.denied_models)),
        ("cidrs", lambda p: _any(p.allowed_cidrs)),
        ("max tokens", lambda p: p.max_output_tokens or ""),
        ("prompts", _logging),
        ("updated", lambda p: output.fmt_time(p.update_time)),
    ]


# --- commands -----------------------------------------------------------------------


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--team", metavar="TEAM", help="a team (actor of kind team)")
    target.add_argument("--actor", metavar="ACTOR", help="an actor id or name")
    target.add_argument("--key", metavar="KEY", help="a key id, name or prefix")


NOUN = "policy"
SUMMARY = "set, show, list and delete policies"


def register(group: CommandGroup) -> None:

    set_p = group.action(
        "set",
        set_policy,
        "create or update the policy of the workspace (default), a team, an actor or a key",
        description="Only the settings given change. A list flag with no values clears it.",
    )
    _add_target(set_p)
    many = {"nargs": "*", "default": None}
    set_p.add_argument("--allow-models", metavar="GLOB", help="model globs allowed", **many)
    set_p.add_argument("--deny-models", metavar="GLOB", help="model globs denied", **many)
    set_p.add_argument("--allow-cidrs", metavar="CIDR", help="client networks allowed", **many)
    set_p.add_argument(
        "--trusted-proxies", metavar="CIDR", help="peers whose X-Forwarded-For counts", **many
    )
    set_p.add_argument(
        "--require-actor-token",
        action=argparse.BooleanOptionalAction,
        help="every request must carry a signed actor token",
    )
    set_p.add_argument("--max-output-tokens", type=int, metavar="N", help="0: no bound")
    set_p.add_argument("--max-tokens-mode", choices=list(MAX_TOKENS_MODES))
    set_p.add_argument("--allow-providers", metavar="NAME", help="provider ids", **many)
    set_p.add_argument("--prompt-logging", choices=list(PROMPT_LOGGING))
    set_p.add_argument("--prompt-retention", metavar="DURATION", help="how long full text is kept")
    set_p.add_argument(
        "--redact", metavar="NAME=REGEX", help="extra redaction rules (replace the list)", **many
    )
    set_p.add_argument(
        "--claim-overrides",
        metavar="CLAIM",
        help=f"actor-token claims that may override the key's actor ({','.join(CLAIMS)})",
        **many,
    )
    labels = set_p.add_mutually_exclusive_group()
    labels.add_argument(
        "--allow-labels",
        nargs="?",
        const="yes",
        choices=list(GRANTS),
        help="record X-Oggy-Tags and workflow headers as labels (no flag value: yes); "
        "no denies it whatever other policies say, inherit leaves it to them",
    )
    labels.add_argument(
        "--no-allow-labels",
        dest="allow_labels",
        action="store_const",
        const="no",
        help="the same as --allow-labels no",
    )
    set_p.add_argument(
        "--replay-protection",
        action=argparse.BooleanOptionalAction,
        help="actor tokens must carry a never-reused jti",
    )
    set_p.add_argument(
        "--shadow", action="store_true", help="the target's shadow policy (record, never block)"
    )
    set_p.add_argument("--name", metavar="ID", help="policy id (default: derived from the target)")

    show_p = group.action(
        "show", show, "the policies attached to a target and the effective (merged) policy"
    )
    _add_target(show_p)

    group.action("list", list_policies, "list policies")

    delete_p = group.action("delete", delete, "delete a policy")
    delete_p.add_argument("policy", metavar="NAME", help="policy id or full name")


def _not_found(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() == grpc.StatusCode.NOT_FOUND


def _check_team(ctx: Context, name: str) -> None:
    actor = ctx.client.stub.GetActor(admin_service_pb2.GetActorRequest(name=name)).actor
    if actor.kind != actor_pb2.Actor.Kind.KIND_TEAM:
        raise CliError(f"{names.short_id(name)} is not a team actor: use --actor")


def find_existing(ctx: Context, target: Target) -> Policy | None:
    args = ctx.args
    if args.name:
        name = names.child_name(ctx.workspace, "policies", args.name)
        try:
            found = ctx.client.stub.GetPolicy(admin_service_pb2.GetPolicyRequest(name=name)).policy
        except grpc.RpcError as e:
            if _not_found(e):
                return None
            raise
        if target.explicit and found.target != target.name:
            raise CliError(f"policy {args.name} applies to {found.target}, not {target.name}")
        if args.shadow and not found.shadow:
            raise CliError(f"policy {args.name} is not a shadow policy")
        return found
    policies = list_all(
        ctx.client.stub.ListPolicies,
        admin_service_pb2.ListPoliciesRequest(parent=ctx.workspace),
        "policies",
    )
    matches = [p for p in policies if p.target == target.name and p.shadow == args.shadow]
    if len(matches) > 1:
        ids = ", ".join(names.short_id(p.name) for p in matches)
        raise CliError(f"several policies apply to {target.name} ({ids}): pick one with --name")
    return matches[0] if matches else None


def set_policy(ctx: Context) -> int:
    args = ctx.args
    target = resolve_target(args, ctx.workspace)
    changes, paths = build_changes(args, ctx.workspace)
    if args.team:
        _check_team(ctx, target.name)
    existing = find_existing(ctx, target)
    if existing is None:
        policy_id = target.default_id
        if args.name:
            policy_id = names.short_id(names.child_name(ctx.workspace, "policies", args.name))
        if not policy_id:
            raise CliError("the derived policy id would be too long: pass --name ID")
        changes.target = target.name
        changes.shadow = args.shadow
        request = admin_service_pb2.CreatePolicyRequest(
            parent=ctx.workspace, policy_id=policy_id, policy=changes, request_id=request_id()
        )
        policy = ctx.client.stub.CreatePolicy(request).policy
        verb = "created"
    else:
        if not paths:
            raise CliError(f"nothing to change in {existing.name}: give at least one setting")
        changes.name = existing.name
        request = admin_service_pb2.UpdatePolicyRequest(
            policy=changes, update_mask=FieldMask(paths=paths)
        )
        policy = ctx.client.stub.UpdatePolicy(request).policy
        verb = "updated"
    output.emit_one(ctx.format, policy, detail_columns(ctx.workspace))
    if ctx.format != "json":
        print(f"{verb} {policy.name}", file=sys.stderr)
    return 0


def show(ctx: Context) -> int:
    args = ctx.args
    args.shadow = False
    target = resolve_target(args, ctx.workspace)
    policies = list_all(
        ctx.client.stub.ListPolicies,
        admin_service_pb2.ListPoliciesRequest(parent=ctx.workspace),
        "policies",
    )
    attached = [p for p in policies if p.target == target.name]
    effective = ctx.client.stub.GetEffectivePolicy(
        admin_service_pb2.GetEffectivePolicyRequest(target=target.name)
    )
    if ctx.format == "json":
        output.write_json(
            {
                "target": target.name,
                "policies": [output.to_dict(p) for p in attached],
                "effective": output.to_dict(effective),
            }
        )
        return 0
    columns = detail_columns(ctx.workspace)
    label = target_label(ctx.workspace, target.name)
    print(f"# policies attached to {label}: {len(attached)}")
    for policy in attached:
        print()
        output.emit_one(ctx.format, policy, columns)
    print()
    sources = ", ".join(names.short_id(s) for s in effective.sources) or "none"
    print(f"# effective policy for {label} (sources, most general first: {sources})")
    effective_columns = [c for c in columns if c[0] not in ("name", "target", "shadow", "updated")]
    output.emit_one(ctx.format, effective.policy, effective_columns)
    if effective.HasField("shadow_policy"):
        print()
        print(f"# effective shadow policy for {label} (recorded, never enforced)")
        output.emit_one(ctx.format, effective.shadow_policy, effective_columns)
    return 0


def list_policies(ctx: Context) -> int:
    request = admin_service_pb2.ListPoliciesRequest(parent=ctx.workspace)
    columns = list_columns(ctx.workspace)
    return emit_all(ctx, ctx.client.stub.ListPolicies, request, "policies", columns)


def delete(ctx: Context) -> int:
    name = names.child_name(ctx.workspace, "policies", ctx.args.policy)
    ctx.client.stub.DeletePolicy(admin_service_pb2.DeletePolicyRequest(name=name))
    print_deleted(ctx, name)
    return 0
