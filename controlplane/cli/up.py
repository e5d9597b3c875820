"""`oggy up`: etcd, a control plane and a data plane on loopback, with one command.

With `--demo` it also runs the mock provider and sets up workspace `demo`, provider
`mock` and a gateway key, so an OpenAI SDK works against the gateway right away. All
state lives in the state dir (default `.oggy`): etcd data, kek and tokens, usage db,
logs, and `endpoints.json`, so a second `oggy up` comes back with the same key and data.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType

import grpc

from controlplane.cli import demo, endpoints, ports
from controlplane.cli.admin_client import AdminClient
from controlplane.cli.context import Context
from controlplane.cli.errors import CliError
from controlplane.cli.supervisor import Child, Stopping, Supervisor
from oggy.contract.timeouts import DEFAULT_TIMEOUTS

HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 60.0
CP_LISTENING = re.compile(r"controlplane listening on (\S+):(\d+)")
DP_LISTENING = re.compile(r"dataplane listening on (http://\S+:\d+)")
MOCK_LISTENING = re.compile(r"mock provider listening on (http://\S+:\d+)")

ETCD_MISSING = (
    "etcd not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install etcd-server`, "
    "or run `bash .ci/setup`), or point at a running cluster with --etcd http://HOST:PORT"
)


@dataclass(frozen=True, slots=True)
class UpOptions:
    state_dir: Path
    http_port: int
    grpc_port: int
    etcd: str | None
    demo: bool
    verbose: bool
    # Extra `oggy dataplane` flags (upstream timeouts, max config age), as given.
    dataplane_flags: tuple[str, ...] = ()


# `oggy up` flags passed to the data plane it starts, unchanged; unset ones are not
# passed, so the data plane's own defaults (one copy, oggy.contract.timeouts) hold.
DATAPLANE_FLAGS = {
    "--upstream-connect-timeout": f"default {DEFAULT_TIMEOUTS.connect_s:g}",
    "--upstream-first-byte-timeout": (
        f"until the response headers, default {DEFAULT_TIMEOUTS.first_byte_s:g}"
    ),
    "--upstream-between-chunks-timeout": (
        f"longest silence in a stream, default {DEFAULT_TIMEOUTS.idle_s:g}"
    ),
    "--max-config-age": "refuse requests when no control plane was heard from for this long",
}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "up", help="run etcd, a control plane and a data plane locally (Ctrl-C stops all)"
    )
    parser.add_argument("--demo", action="store_true", help="also a mock provider + demo key")
    endpoints.add_state_dir_flag(parser, "all local state")
    parser.add_argument("--http-port", type=int, default=8080, help="gateway port (0 = any)")
    parser.add_argument("--grpc-port", type=int, default=0, help="admin/config port (0 = any)")
    parser.add_argument("--etcd", help="use this etcd (http://HOST:PORT) instead of starting one")
    parser.add_argument("--verbose", "-v", action="store_true", help="echo child logs")
    for flag, help_text in DATAPLANE_FLAGS.items():
        parser.add_argument(flag, type=_positive_seconds, metavar="SECONDS", help=help_text)
    parser.set_defaults(handler=run_up)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def dataplane_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """The DATAPLANE_FLAGS given to `oggy up`, as `oggy dataplane` arguments."""
    out: list[str] = []
    for flag in DATAPLANE_FLAGS:
        value = getattr(args, flag.removeprefix("--").replace("-", "_"), None)
        if value is not None:
            out += [flag, f"{value:g}"]
    return tuple(out)


def run_up(ctx: Context) -> int:
    args = ctx.args
    # Every option but the forwarded flags is the `oggy up` flag of the same name.
    named = [f.name for f in fields(UpOptions) if f.name != "dataplane_flags"]
    given = {name: getattr(args, name) for name in named}
    opts = UpOptions(**given, dataplane_flags=dataplane_flags(args))
    for flag, port in (("--http-port", opts.http_port), ("--grpc-port", opts.grpc_port)):
        if not 0 <= port <= 65535:
            raise CliError(f"{flag} {port} out of range")
    opts.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    stop = threading.Event()
    with _state_lock(opts.state_dir), _stop_on_signals(stop):
        supervisor = Supervisor(opts.state_dir / "logs", echo=opts.verbose)
        try:
            saved = start(opts, supervisor, stop)
            print(banner(saved, opts.state_dir), flush=True)
            return _watch(supervisor, stop)
        except Stopping:
            return 0
        finally:
            print("stopping...", file=sys.stderr, flush=True)
            supervisor.stop_all()


def _watch(supervisor: Supervisor, stop: threading.Event) -> int:
    """Wait for a signal (exit 0) or a child dying on its own (exit 1)."""
    while not stop.wait(0.5):
        dead = supervisor.first_exited()
        if dead is not None:
            message = dead.failure(f"exited unexpectedly (code {dead.proc.returncode})")
            print(f"error: {message}", file=sys.stderr)
            return 1
    return 0


def start(opts: UpOptions, supervisor: Supervisor, stop: threading.Event) -> endpoints.Endpoints:
    state_dir = opts.state_dir
    saved_ports = ports.load(state_dir)
    chosen: dict[str, int] = {}
    if opts.http_port and not ports.is_free(opts.http_port):
        raise CliError(f"port {opts.http_port} is in use: pass --http-port N (0 = any free port)")
    previous = endpoints.load_endpoints(state_dir) or endpoints.Endpoints()

    mock_url = ""
    if opts.demo:
        chosen["mock"] = ports.pick(saved_ports, "mock")
        mock_url = _start_mock(supervisor, chosen["mock"], stop)

    etcd_url = opts.etcd
    if etcd_url is None:
        chosen["etcd_client"] = ports.pick(saved_ports, "etcd_client", set(chosen.values()))
        chosen["etcd_peer"] = ports.pick(saved_ports, "etcd_peer", set(chosen.values()))
        etcd_url = _start_etcd(supervisor, state_dir, chosen, stop)
    ports.save(state_dir, {**saved_ports, **chosen})

    admin_address = _start_controlplane(supervisor, opts, etcd_url, stop)
    admin_token = _read_secret(state_dir / "admin_token", endpoints.TOKEN_ENV)

    workspace, key_text, models = previous.workspace, previous.gateway_key, previous.models
    if opts.demo:
        with AdminClient(admin_address, admin_token) as client:
            _wait_admin_ready(client, stop)
            result = demo.ensure_demo(client, f"{mock_url}/v1", previous.gateway_key)
        workspace, key_text, models = result.workspace, result.key_text, result.models

    gateway_url = _start_dataplane(supervisor, opts, admin_address, stop)
    saved = endpoints.Endpoints(
        gateway_url=f"{gateway_url}/v1",
        admin_address=admin_address,
        admin_token=admin_token,
        workspace=workspace,
        gateway_key=key_text,
        models=tuple(models),
    )
    endpoints.write_endpoints(state_dir, saved)
    return saved


def _start_mock(supervisor: Supervisor, port: int, stop: threading.Event) -> str:
    child = supervisor.start(
        "mock-provider",
        [sys.executable, "-m", "controlplane.devtools.mock_provider", "--port", str(port)],
    )
    return child.wait_for_line(MOCK_LISTENING, STARTUP_TIMEOUT_S, stop).group(1)


def _start_etcd(
    supervisor: Supervisor, state_dir: Path, chosen: dict[str, int], stop: threading.Event
) -> str:
    binary = shutil.which("etcd")
    if binary is None:
        raise CliError(ETCD_MISSING)
    client = f"http://{HOST}:{chosen['etcd_client']}"
    peer = f"http://{HOST}:{chosen['etcd_peer']}"
    child = supervisor.start(
        "etcd",
        [
            binary,
            "--name=default",
            f"--data-dir={state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--logger=zap",
            "--log-level=warn",
            # Keep a local data dir small; the control plane resyncs after a compaction.
            "--auto-compaction-mode=periodic",
            "--auto-compaction-retention=1h",
        ],
    )
    child.wait_http_ok(f"{client}/health", STARTUP_TIMEOUT_S, stop)
    return client


def _start_controlplane(
    supervisor: Supervisor, opts: UpOptions, etcd_url: str, stop: threading.Event
) -> str:
    child = supervisor.start(
        "controlplane",
        [
            *_oggy(),
            "controlplane",
            "--etcd",
            etcd_url,
            "--grpc",
            f"{HOST}:{opts.grpc_port}",
            "--state-dir",
            str(opts.state_dir),
        ],
    )
    match = child.wait_for_line(CP_LISTENING, STARTUP_TIMEOUT_S, stop)
    return f"{match.group(1)}:{match.group(2)}"


def _start_dataplane(
    supervisor: Supervisor, opts: UpOptions, admin_address: str, stop: threading.Event
) -> str:
    node_token = _read_secret(opts.state_dir / "node_token", "OGGY_NODE_TOKEN")
    child: Child = supervisor.start(
        "dataplane",
        [
            *_oggy(),
            "dataplane",
            "--control-plane",
            admin_address,
            "--http",
            f"{HOST}:{opts.http_port}",
            "--state-dir",
            str(opts.state_dir),
            "--snapshot-file",
            str(opts.state_dir / "snapshot.pb"),
            *opts.dataplane_flags,
        ],
        # The environment, not argv: argv is visible to every user in `ps`.
        env={"OGGY_NODE_TOKEN": node_token},
    )
    url = child.wait_for_line(DP_LISTENING, STARTUP_TIMEOUT_S, stop).group(1)
    child.wait_http_ok(f"{url}/readyz", STARTUP_TIMEOUT_S, stop)
    return url


def _oggy() -> list[str]:
    # The same interpreter and code as this `oggy`, whatever is on PATH.
    return [sys.executable, "-m", "controlplane.cli.main"]


def _read_secret(path: Path, env_name: str) -> str:
    """An env override (as the control plane honours it), else the control plane's file."""
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror}") from None


def _wait_admin_ready(client: AdminClient, stop: threading.Event) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        try:
            client.wait_ready(timeout=1.0)
            return
        except grpc.FutureTimeoutError:
            if stop.is_set():
                raise Stopping("interrupted") from None
            if time.monotonic() > deadline:
                raise CliError(f"control plane at {client.address} is not reachable") from None


@contextlib.contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """One `oggy up` per state dir: two would fight over etcd's data dir and the ports."""
    with (state_dir / "up.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CliError(f"another `oggy up` is running with state dir {state_dir}") from None
        yield


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, handler) for sig in watched}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _example_body(model: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Hi!"}]}


def banner(saved: endpoints.Endpoints, state_dir: Path) -> str:
    """What to copy and paste once everything is up."""
    path = state_dir / endpoints.ENDPOINTS_FILE
    lines = [
        "",
        "oggy is up",
        f"  gateway     {saved.gateway_url}",
        f"  admin API   {saved.admin_address}  (token in {path})",
        f"  logs        {state_dir / 'logs'}",
    ]
    if saved.gateway_key:
        model = saved.models[0] if saved.models else "gpt-4o-mini"
        lines += [
            f"  workspace   {saved.workspace}",
            f"  models      {', '.join(saved.models)}",
            f"  gateway key {saved.gateway_key}",
            "",
            "Try it with curl:",
            f"  curl -s {saved.gateway_url}/chat/completions \\",
            f'    -H "Authorization: Bearer {saved.gateway_key}" \\',
            '    -H "Content-Type: application/json" \\',
            f"    -d '{json.dumps(_example_body(model))}'",
            "",
            "Or with the OpenAI Python SDK (pip install openai):",
            "  import json, openai",
            f'  ep = json.load(open("{path}"))',
            '  client = openai.OpenAI(base_url=ep["gateway_url"], api_key=ep["gateway_key"])',
            f'  reply = client.chat.completions.create(model="{model}",',
            '      messages=[{"role": "user", "content": "Hi!"}])',
            "  print(reply.choices[0].message.content, reply.usage)",
            "",
            "Then: oggy usage summary --by model   |   oggy usage list --format json",
        ]
    else:
        lines += [
            "",
            "Next: oggy workspace create W; oggy provider add ... -w W; oggy key create -w W",
            "(or run `oggy up --demo` for a mock provider and a ready-to-use key)",
        ]
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)
