"""The state dir's endpoints.json, and how a command finds the admin API and workspace.

`oggy up` writes `<state-dir>/endpoints.json` (mode 0600: it holds the admin token and a
gateway key). Every other command resolves its settings flag → environment → that file,
so after `oggy up` the CLI works with no flags at all.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from controlplane.cli.errors import CliError

DEFAULT_STATE_DIR = Path(".oggy")
ENDPOINTS_FILE = "endpoints.json"
DEFAULT_ADMIN_ADDRESS = "127.0.0.1:50051"
ADDRESS_ENV = "OGGY_ADMIN_ADDRESS"
TOKEN_ENV = "OGGY_ADMIN_TOKEN"
WORKSPACE_ENV = "OGGY_WORKSPACE"


def add_state_dir_flag(parser: argparse._ActionsContainer, holds: str) -> None:
    """`--state-dir`; `holds` says what this command keeps (or finds) there."""
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help=f"{holds} (default %(default)s)",
    )


@dataclass(frozen=True, slots=True)
class Endpoints:
    gateway_url: str = ""
    admin_address: str = ""
    admin_token: str = field(default="", repr=False)
    workspace: str = ""
    gateway_key: str = field(default="", repr=False)
    models: tuple[str, ...] = ()

    def to_json(self) -> str:
        data = asdict(self)
        data["models"] = list(self.models)
        return json.dumps(data, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class Connection:
    address: str
    token: str = field(repr=False)


def load_endpoints(state_dir: Path) -> Endpoints | None:
    path = state_dir / ENDPOINTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise CliError(f"cannot read {path}: not a JSON object")
    known = {k: v for k, v in data.items() if k in Endpoints.__dataclass_fields__}
    known["models"] = tuple(known.get("models") or ())
    return Endpoints(**{k: v if k == "models" else str(v or "") for k, v in known.items()})


def write_private(path: Path, text: str) -> None:
    """Write `text` atomically with mode 0600 (the file holds secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # in case the umask or an older tmp file widened it
    os.replace(tmp, path)


def write_endpoints(state_dir: Path, endpoints: Endpoints) -> Path:
    path = state_dir / ENDPOINTS_FILE
    write_private(path, endpoints.to_json())
    return path


def resolve_connection(
    address: str | None,
    token: str | None,
    state_dir: Path,
    env: Mapping[str, str],
) -> Connection:
    saved = load_endpoints(state_dir) or Endpoints()
    resolved_address = address or env.get(ADDRESS_ENV) or saved.admin_address
    resolved_token = token or env.get(TOKEN_ENV) or saved.admin_token
    if not resolved_token:
        # A control plane run by hand with this state dir leaves its token here.
        token_file = state_dir / "admin_token"
        if token_file.is_file():
            resolved_token = token_file.read_text(encoding="utf-8").strip()
    if not resolved_token:
        hint = _no_endpoints_file(state_dir) or (
            f"pass --admin-token, set {TOKEN_ENV}, or run `oggy up` "
            f"(which writes {state_dir / ENDPOINTS_FILE})"
        )
        raise CliError(f"no admin token: {hint}")
    return Connection(resolved_address or DEFAULT_ADMIN_ADDRESS, resolved_token)


def resolve_workspace(flag: str | None, state_dir: Path, env: Mapping[str, str]) -> str:
    """The raw workspace argument (normalised by names.workspace_name)."""
    value = flag or env.get(WORKSPACE_ENV)
    if not value:
        saved = load_endpoints(state_dir)
        value = saved.workspace if saved else ""
    if not value:
        hint = _no_endpoints_file(state_dir) or f"pass --workspace W or set {WORKSPACE_ENV}"
        raise CliError(f"no workspace: {hint}")
    return value


def _no_endpoints_file(state_dir: Path) -> str:
    """When the endpoints file is missing, what to say instead of just naming a setting.

    Run outside the checkout where `oggy up` runs, every setting is missing at once;
    naming the file the CLI looked for (as an absolute path, since the default is
    relative) explains why, and the flags and variables say how to go without it.
    """
    path = state_dir / ENDPOINTS_FILE
    if path.exists():
        return ""
    return (
        f"{path.absolute()} does not exist (`oggy up` writes it); run where `oggy up` runs, "
        f"pass --state-dir DIR, or give --admin-address/{ADDRESS_ENV}, "
        f"--admin-token/{TOKEN_ENV} and --workspace/{WORKSPACE_ENV}"
    )
