"""`oggy`: run Oggy's processes and administer a workspace from the command line.

    oggy up --demo                         etcd + control plane + data plane (+ mock provider)
    oggy controlplane | dataplane ...      one process, as in production
    oggy workspace|key|provider|usage ...  the admin API (also actor, signing-key,
                                           policy, route, limit, budget, prices, cost,
                                           audit, prompt-logs)

Errors are one line on stderr (`error: NOT_FOUND: ...`) and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc

from controlplane.cli import endpoints, output, up
from controlplane.cli.commands import (
    actor,
    audit,
    budget,
    cost,
    dataplanes,
    key,
    limit,
    planes,
    policy,
    prices,
    prompt_logs,
    provider,
    routes,
    secrets,
    signing_key,
    usage,
    workspace,
)
from controlplane.cli.commands.group import CommandGroup
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from controlplane.store.base import STORE_MESSAGE_PREFIX

EXIT_ERROR = 1
EXIT_USAGE = 2
DISTRIBUTION = "oggy"


class Parser(argparse.ArgumentParser):
    """No abbreviated flags: `--api-key sk-...` must not pass for `--api-key-env`.

    Unknown arguments are an error of the (sub)command that got them, so the message
    comes with that command's usage: argparse would otherwise hand them up to `oggy`,
    whose usage says nothing about `key create`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def version() -> str:
    """The installed distribution's version (pyproject.toml is the one source of it)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown: not installed)"


def _common_parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--format", choices=output.FORMATS, default="table")
    group.add_argument(
        "--admin-address",
        metavar="HOST:PORT",
        help=f"control plane (else ${endpoints.ADDRESS_ENV}, else STATE_DIR/endpoints.json)",
    )
    group.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help=f"admin token (prefer ${endpoints.TOKEN_ENV}: flags show up in `ps`)",
    )
    group.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="CA bundle (PEM) to reach a TLS control plane (else $OGGY_TLS_CA)",
    )
    endpoints.add_state_dir_flag(group, "where `oggy up` keeps endpoints.json")
    return common


def _scoped_parser() -> argparse.ArgumentParser:
    scoped = Parser(add_help=False)
    scoped.add_argument(
        "--workspace",
        "-w",
        metavar="W",
        help=f"workspace id or name (else ${endpoints.WORKSPACE_ENV}, else endpoints.json)",
    )
    return scoped


def build_parser() -> argparse.ArgumentParser:
    # Subparsers are created with the parent's class, so every level is a Parser.
    parser = Parser(
        prog="oggy",
        description="Oggy: an LLM gateway with attribution, policy and usage metering.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common, scoped = _common_parser(), _scoped_parser()
    up.register(sub)
    planes.register(sub)
    for module in (
        dataplanes,
        workspace,
        key,
        provider,
        usage,
        secrets,
        actor,
        signing_key,
        policy,
        routes,
        limit,
        budget,
        prices,
        cost,
        audit,
        prompt_logs,
    ):
        if module is provider:
            # Not on CommandGroup yet: it is being rewritten on another branch.
            provider.register(sub, common, scoped)
        else:
            module.register(CommandGroup(sub, common, scoped, module.NOUN, module.SUMMARY))
    return parser


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Parse and run one command; returns the exit code (never raises for user errors)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [planes.DATAPLANE]:
        # The data plane parses its own flags (argparse's REMAINDER drops a leading flag).
        return planes.run_dataplane_argv(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args, env)
    try:
        return int(args.handler(ctx) or 0)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.RpcError as e:
        print(f"error: {describe_rpc_error(e, ctx)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `oggy usage list | head`: the reader left; exit quietly, without a traceback
        # (and without Python's own error when it flushes stdout at exit).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    finally:
        ctx.close()


def describe_rpc_error(error: grpc.RpcError, ctx: Context | None = None) -> str:
    """`NOT_FOUND: workspace workspaces/x not found`, with a hint when unreachable."""
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    name = code.name if code is not None else "UNKNOWN"
    text = f"{name}: {details or 'no details'}"
    answered = (details or "").startswith(STORE_MESSAGE_PREFIX)  # the control plane is up
    if (
        code == grpc.StatusCode.UNAVAILABLE
        and not answered
        and ctx is not None
        and "client" in ctx.__dict__
    ):
        text += f" (is the control plane running at {ctx.client.address}? try `oggy up`)"
    return text


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
