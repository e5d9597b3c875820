"""`oggy controlplane` and `oggy dataplane`: run one server process in the foreground.

The servers are imported only when their command runs, so admin commands stay quick and
do not pull in the server stacks.
"""

from __future__ import annotations

import argparse
import importlib

from controlplane.cli import endpoints
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError

DATAPLANE = "dataplane"


def register(sub: argparse._SubParsersAction) -> None:
    cp = sub.add_parser("controlplane", help="run a control plane (admin + config + usage gRPC)")
    # Defaults live in controlplane.settings (imported only when this command runs, since
    # it pulls in the etcd client): a flag left as None is not passed on.
    cp.add_argument("--etcd", help="etcd endpoint http://HOST:PORT (default 127.0.0.1:2379)")
    cp.add_argument("--grpc", metavar="HOST:PORT", help="listen address (default 127.0.0.1:50051)")
    endpoints.add_state_dir_flag(cp, "kek, admin_token, node_token, usage.db")
    cp.add_argument("--etcd-prefix", help="key prefix in etcd (default /oggy/)")
    cp.add_argument(
        "--usage-store",
        help="sqlite:///PATH (default STATE_DIR/usage.db) or postgresql://USER@HOST/DB",
    )
    cp.add_argument("--kek-file", help="KEK keyring file (default $OGGY_KEK, else STATE_DIR/kek)")
    cp.add_argument("--tls-cert", help="serve gRPC over TLS: certificate chain (PEM)")
    cp.add_argument("--tls-key", help="serve gRPC over TLS: private key (PEM)")
    cp.add_argument(
        "--etcd-timeout",
        type=float,
        dest="etcd_timeout_s",
        metavar="SECONDS",
        help="bound on each etcd call: admin calls fail UNAVAILABLE after it (default 1.5)",
    )
    cp.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics (etcd health, alarms)",
    )
    cp.add_argument(
        "--advertise-address",
        metavar="HOST:PORT",
        help="gRPC address data planes are redirected to when this process allocates quota"
        " (default the --grpc address)",
    )
    cp.add_argument(
        "--lease-ttl",
        type=float,
        dest="lease_ttl_s",
        metavar="SECONDS",
        help="how long a quota lease is good for without a newer one (default 3)",
    )
    cp.add_argument(
        "--quota-report-interval",
        type=float,
        dest="quota_report_interval_s",
        metavar="SECONDS",
        help="how often data planes report quota use (default 0.5)",
    )
    cp.set_defaults(handler=run_controlplane)

    # The data plane owns its flags (dataplane/settings.py); everything after the word
    # `dataplane` is handed to it, so the control-plane package never imports it.
    dp = sub.add_parser(DATAPLANE, help="run a data plane (OpenAI-compatible HTTP)")
    dp.add_argument("dataplane_args", nargs=argparse.REMAINDER, help="see `oggy dataplane -h`")


def run_controlplane(ctx: Context) -> int:
    from controlplane import server, settings

    args = ctx.args
    flags = {
        name: getattr(args, name)
        for name in (
            *("etcd", "grpc", "etcd_prefix", "usage_store"),
            *("kek_file", "tls_cert", "tls_key", "etcd_timeout_s", "metrics"),
            *("advertise_address", "lease_ttl_s", "quota_report_interval_s"),
        )
        if getattr(args, name) is not None
    }
    try:
        resolved = settings.Settings.from_flags(state_dir=args.state_dir, **flags)
    except ValueError as e:
        raise CliError(str(e)) from None
    server.run(resolved)
    return 0


def run_dataplane_argv(argv: list[str]) -> int:
    entry = importlib.import_module("dataplane.__main__")
    return int(entry.main(argv, prog="oggy dataplane"))
