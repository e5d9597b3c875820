"""What a command needs from the parsed arguments: format, admin client, workspace."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from controlplane.cli import endpoints, names
from controlplane.cli.admin_client import AdminClient


class Context:
    def __init__(self, args: argparse.Namespace, env: Mapping[str, str] | None = None) -> None:
        self.args = args
        self.env = os.environ if env is None else env
        self.format: str = getattr(args, "format", "table")
        self.state_dir: Path = getattr(args, "state_dir", None) or endpoints.DEFAULT_STATE_DIR

    @cached_property
    def client(self) -> AdminClient:
        conn = endpoints.resolve_connection(
            getattr(self.args, "admin_address", None),
            getattr(self.args, "admin_token", None),
            self.state_dir,
            self.env,
        )
        tls_ca = getattr(self.args, "tls_ca", None) or self.env.get("OGGY_TLS_CA")
        return AdminClient(conn.address, conn.token, tls_ca=Path(tls_ca) if tls_ca else None)

    @cached_property
    def workspace(self) -> str:
        """The full workspace name (`workspaces/demo`)."""
        raw = endpoints.resolve_workspace(
            getattr(self.args, "workspace", None), self.state_dir, self.env
        )
        return names.workspace_name(raw)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
