"""`oggy provider add|update|list|delete`: upstream provider credentials of a workspace.

The API key is never taken as a flag (it would land in shell history and `ps`): it comes
from a named environment variable, or stdin — prompted without echo on a terminal.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Mapping
from typing import TextIO

from google.protobuf.field_mask_pb2 import FieldMask

from controlplane.cli import names, output
from controlplane.cli.commands import common
from controlplane.cli.commands.common import emit_all, read_secret
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from oggy.contract.timeouts import MAX_TIMEOUT_S
from oggy.v1 import admin_service_pb2, provider_pb2

Kind = provider_pb2.ProviderCredential.Kind
KINDS = common.kind_choices(Kind)
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}


def kind_label(kind: int) -> str:
    return common.kind_label(Kind, kind)


# The CLI spells provider kinds one way, as `provider add --kind` does (`openai-compatible`);
# the price catalog's wire form uses underscores (`openai_compatible`).
def cli_kind(text: str) -> str:
    """Either spelling → the CLI's (an argparse `type`: underscores keep working)."""
    return text.replace("_", "-")


def catalog_kind(label: str) -> str:
    """A CLI kind → the price catalog's `provider` value (`*` stays `*`)."""
    return label.replace("-", "_")


COLUMNS: list[output.Column] = [
    ("id", lambda p: names.short_id(p.name)),
    ("kind", lambda p: kind_label(p.kind)),
    ("base url", lambda p: p.base_url),
    ("models", lambda p: list(p.models)),
    ("api key", lambda p: f"...{p.api_key_hint}" if p.api_key_hint else ""),
    ("created", lambda p: output.fmt_time(p.create_time)),
]


def register(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    scoped: argparse.ArgumentParser,
) -> None:
    parser = sub.add_parser("provider", help="add, list and delete provider credentials")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add_p = actions.add_parser(
        "add",
        parents=[common, scoped],
        help="add a provider credential (API key from --api-key-env or stdin)",
    )
    add_p.add_argument("provider", metavar="NAME", help="provider id, e.g. openai")
    add_p.add_argument("--kind", type=cli_kind, choices=sorted(KINDS), required=True)
    add_p.add_argument(
        "--base-url",
        help="default for openai: https://api.openai.com/v1, for anthropic: "
        "https://api.anthropic.com; azure-openai: https://RESOURCE.openai.azure.com",
    )
    add_p.add_argument("--api-version", default="", help="azure-openai: the api-version")
    add_p.add_argument(
        "--deployment",
        action="append",
        default=[],
        metavar="MODEL=DEPLOYMENT",
        help="azure-openai: the deployment serving MODEL (repeatable; default: the model name)",
    )
    add_p.add_argument(
        "--models", nargs="+", required=True, metavar="GLOB", help="model globs, e.g. 'gpt-4o*'"
    )
    add_p.add_argument("--api-key-env", metavar="VAR", help="read the API key from $VAR")
    add_p.add_argument("--display-name", default="")
    add_p.add_argument(
        "--allow-private-network",
        action="store_true",
        help="allow a base URL on a loopback or private address (e.g. a local model server)",
    )
    _timeout_arguments(add_p)
    add_p.set_defaults(handler=add)

    update_p = actions.add_parser(
        "update", parents=[common, scoped], help="change a provider credential's timeouts"
    )
    update_p.add_argument("provider", metavar="NAME")
    _timeout_arguments(update_p)
    update_p.set_defaults(handler=update)

    list_p = actions.add_parser("list", parents=[common, scoped], help="list provider credentials")
    list_p.set_defaults(handler=list_providers)

    delete_p = actions.add_parser(
        "delete", parents=[common, scoped], help="delete a provider credential"
    )
    delete_p.add_argument("provider", metavar="NAME")
    delete_p.set_defaults(handler=delete)


# Flag → UpstreamTimeouts field.
TIMEOUT_FLAGS = {
    "connect_timeout": "connect",
    "first_byte_timeout": "first_byte",
    "idle_timeout": "idle",
}


def _timeout_arguments(parser: argparse.ArgumentParser) -> None:
    what = {
        "connect_timeout": "to connect",
        "first_byte_timeout": "until the response headers (a whole non-streaming reply)",
        "idle_timeout": "longest silence between stream chunks",
    }
    for dest, text in what.items():
        parser.add_argument(
            "--" + dest.replace("_", "-"),
            dest=dest,
            type=_seconds,
            metavar="SECONDS",
            help=f"{text}; 0: the data plane's default",
        )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 <= value <= MAX_TIMEOUT_S:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_TIMEOUT_S:g} seconds")
    return value


def apply_timeouts(args: argparse.Namespace, timeouts: provider_pb2.UpstreamTimeouts) -> bool:
    """Set the timeout flags given on `timeouts` (0 clears one); whether any was given."""
    given = False
    for dest, field in TIMEOUT_FLAGS.items():
        seconds = getattr(args, dest, None)
        if seconds is None:
            continue
        given = True
        if seconds:
            getattr(timeouts, field).FromNanoseconds(round(seconds * 1e9))
        else:
            timeouts.ClearField(field)
    return given


def read_api_key(env_var: str | None, env: Mapping[str, str], stdin: TextIO | None = None) -> str:
    """The API key from `$env_var`, else stdin (no echo on a terminal). Never printed."""
    return read_secret(
        env_var,
        env,
        what="API key",
        flag="--api-key-env",
        stdin=stdin,
        example="OPENAI_API_KEY",
        prompt="Provider API key",
    )


def parse_deployments(pairs: list[str]) -> dict[str, str]:
    deployments: dict[str, str] = {}
    for pair in pairs:
        model, sep, deployment = pair.partition("=")
        if not sep or not model or not deployment:
            raise CliError(f"--deployment takes MODEL=DEPLOYMENT, got {pair!r}")
        deployments[model] = deployment
    return deployments


def add(ctx: Context) -> int:
    args = ctx.args
    base_url = args.base_url or DEFAULT_BASE_URLS.get(args.kind)
    if not base_url:
        raise CliError(f"--base-url is required for kind {args.kind}")
    name = names.child_name(ctx.workspace, "providers", args.provider)
    credential = provider_pb2.ProviderCredential(
        display_name=args.display_name,
        kind=KINDS[args.kind],
        base_url=base_url,
        models=args.models,
        api_key=read_api_key(args.api_key_env, ctx.env),
        allow_private_network=args.allow_private_network,
        api_version=args.api_version,
        deployments=parse_deployments(args.deployment),
    )
    apply_timeouts(args, credential.timeouts)
    if args.kind == "azure-openai" and not args.api_version:
        raise CliError("--api-version is required for kind azure-openai (e.g. 2024-10-21)")
    request = admin_service_pb2.CreateProviderCredentialRequest(
        parent=ctx.workspace,
        provider_id=names.short_id(name),
        provider_credential=credential,
        request_id=str(uuid.uuid4()),
    )
    response = ctx.client.stub.CreateProviderCredential(request)
    output.emit_one(ctx.format, response.provider_credential, COLUMNS)
    return 0


def update(ctx: Context) -> int:
    """Merge the given timeouts into the stored ones; the etag refuses a concurrent change."""
    name = names.child_name(ctx.workspace, "providers", ctx.args.provider)
    stored = ctx.client.stub.GetProviderCredential(
        admin_service_pb2.GetProviderCredentialRequest(name=name)
    ).provider_credential
    patch = provider_pb2.ProviderCredential(name=name, etag=stored.etag)
    patch.timeouts.CopyFrom(stored.timeouts)
    if not apply_timeouts(ctx.args, patch.timeouts):
        raise CliError(
            "nothing to update: pass --connect-timeout, --first-byte-timeout or --idle-timeout"
        )
    if not patch.timeouts.ListFields():
        patch.ClearField("timeouts")
    request = admin_service_pb2.UpdateProviderCredentialRequest(
        provider_credential=patch, update_mask=FieldMask(paths=["timeouts"])
    )
    response = ctx.client.stub.UpdateProviderCredential(request)
    output.emit_one(ctx.format, response.provider_credential, COLUMNS)
    return 0


def list_providers(ctx: Context) -> int:
    request = admin_service_pb2.ListProviderCredentialsRequest(parent=ctx.workspace)
    stub = ctx.client.stub
    return emit_all(ctx, stub.ListProviderCredentials, request, "provider_credentials", COLUMNS)


def delete(ctx: Context) -> int:
    name = names.child_name(ctx.workspace, "providers", ctx.args.provider)
    ctx.client.stub.DeleteProviderCredential(
        admin_service_pb2.DeleteProviderCredentialRequest(name=name)
    )
    if ctx.format == "json":
        output.write_json({"name": name, "deleted": True})
    else:
        print(f"deleted {name}")
    return 0
