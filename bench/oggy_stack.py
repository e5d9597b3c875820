"""The real Oggy stack under test: etcd, `oggy controlplane`, admin setup, `oggy dataplane`."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
import procs

from oggy.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    key_pb2,
    provider_pb2,
    usage_pb2,
    workspace_pb2,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ETCD = "/usr/bin/etcd"
OGGY = [sys.executable, "-m", "controlplane.cli.main"]
JSON_MODEL = "bench-model"
SSE_MODEL = "bench-model-stream"


def dataplane_missing() -> str | None:
    """Why the data plane cannot be benchmarked yet, or None when it can."""
    if not (REPO / "dataplane" / "server.py").exists():
        return "dataplane/server.py does not exist yet"
    probe = subprocess.run(
        [*OGGY, "dataplane", "--help"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        tail = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"`oggy dataplane --help` exits {probe.returncode}: {tail[0]}"
    return None


def start_etcd(
    directory: Path, *, cpu: int, log_dir: Path, children: procs.Children
) -> tuple[procs.Child, str]:
    client, peer = procs.free_port(), procs.free_port()
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    cmd = [
        ETCD,
        "--name=bench",
        f"--data-dir={directory}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=bench={peer_url}",
    ]
    child = children.add(procs.start("etcd", cmd, cpu=cpu, log_dir=log_dir, background=True))
    procs.wait_http_ok(f"{client_url}/health", 20, child)
    return child, client_url


def start_controlplane(
    etcd_url: str,
    state_dir: Path,
    *,
    cpu: int,
    log_dir: Path,
    children: procs.Children,
    name: str = "controlplane",
    ready_timeout: float = 30.0,
) -> tuple[procs.Child, str]:
    """`oggy controlplane`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        *OGGY,
        "controlplane",
        "--etcd",
        etcd_url,
        "--grpc",
        "127.0.0.1:0",
        "--state-dir",
        str(state_dir),
    ]
    child = children.add(
        procs.start(name, cmd, cpu=cpu, log_dir=log_dir, cwd=REPO, background=True)
    )
    match = child.wait_for_log(r"controlplane listening on (\S+:\d+)", ready_timeout)
    return child, match.group(1)


def start_dataplane(
    control_plane: str,
    node_token: str,
    spool_dir: Path,
    *,
    cpu: int,
    log_dir: Path,
    children: procs.Children,
    ready_timeout: float = 30.0,
    name: str = "dataplane",
) -> tuple[procs.Child, str]:
    """Start a data plane and wait until /readyz answers (it has a snapshot)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        *OGGY,
        "dataplane",
        "--control-plane",
        control_plane,
        "--http",
        "127.0.0.1:0",
        "--spool-dir",
        str(spool_dir),
    ]
    env = {"OGGY_NODE_TOKEN": node_token}
    child = children.add(procs.start(name, cmd, cpu=cpu, log_dir=log_dir, env=env, cwd=REPO))
    match = child.wait_for_log(r"dataplane listening on (http://\S+:\d+)", ready_timeout)
    url = match.group(1)
    procs.wait_http_ok(f"{url}/readyz", ready_timeout, child)
    return child, url


@dataclass(frozen=True)
class Tenant:
    workspace: str
    key_text: str


@dataclass(frozen=True)
class ModelUsage:
    model: str
    requests: int
    errors: int
    prompt_tokens: int
    completion_tokens: int


class Admin:
    """The admin API over gRPC, authenticated with the state dir's admin token."""

    def __init__(self, address: str, admin_token: str) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = admin_service_pb2_grpc.AdminServiceStub(self._channel)
        self._md = (("authorization", f"Bearer {admin_token}"),)

    def close(self) -> None:
        self._channel.close()

    def call(self, method: str, request: object, timeout: float = 10) -> object:
        """Any AdminService RPC by name, with the admin token."""
        return getattr(self._stub, method)(request, metadata=self._md, timeout=timeout)

    def setup(self, json_base_url: str, sse_base_url: str, workspace_id: str = "bench") -> Tenant:
        """A workspace, one provider per mock flavour, and a gateway key."""
        ws = self._stub.CreateWorkspace(
            admin_service_pb2.CreateWorkspaceRequest(
                workspace_id=workspace_id,
                workspace=workspace_pb2.Workspace(display_name=workspace_id),
            ),
            metadata=self._md,
            timeout=10,
        ).workspace
        providers = (
            ("mock-json", json_base_url, JSON_MODEL),
            ("mock-sse", sse_base_url, SSE_MODEL),
        )
        for provider_id, base_url, model in providers:
            self._stub.CreateProviderCredential(
                admin_service_pb2.CreateProviderCredentialRequest(
                    parent=ws.name,
                    provider_id=provider_id,
                    provider_credential=provider_pb2.ProviderCredential(
                        display_name=provider_id,
                        kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                        base_url=base_url,
                        models=[model],
                        api_key=f"sk-bench-{provider_id}",
                        allow_private_network=True,  # bench upstreams are on loopback
                    ),
                ),
                metadata=self._md,
                timeout=10,
            )
        created = self._stub.CreateGatewayKey(
            admin_service_pb2.CreateGatewayKeyRequest(
                parent=ws.name, gateway_key=key_pb2.GatewayKey(display_name="bench")
            ),
            metadata=self._md,
            timeout=10,
        )
        return Tenant(workspace=ws.name, key_text=created.key_text)

    def usage_by_model(self, workspace: str) -> dict[str, ModelUsage]:
        response = self._stub.SummarizeUsage(
            admin_service_pb2.SummarizeUsageRequest(
                filter=admin_service_pb2.UsageFilter(workspace=workspace),
                group_by=[usage_pb2.USAGE_GROUP_BY_MODEL],
            ),
            metadata=self._md,
            timeout=30,
        )
        return {
            row.group[0]: ModelUsage(
                model=row.group[0],
                requests=row.requests,
                errors=row.errors,
                prompt_tokens=row.prompt_tokens,
                completion_tokens=row.completion_tokens,
            )
            for row in response.rows
        }

    def recent_events(self, workspace: str, page_size: int = 200) -> list[usage_pb2.UsageEvent]:
        response = self._stub.ListUsageEvents(
            admin_service_pb2.ListUsageEventsRequest(
                filter=admin_service_pb2.UsageFilter(workspace=workspace), page_size=page_size
            ),
            metadata=self._md,
            timeout=30,
        )
        return list(response.usage_events)

    def settled_usage(
        self, workspace: str, expected_min: int, timeout: float = 60.0, quiet: float = 3.0
    ) -> dict[str, ModelUsage]:
        """Poll until the total has reached `expected_min` and stopped moving for `quiet` s."""
        deadline = time.monotonic() + timeout
        last_total, last_change = -1, time.monotonic()
        usage: dict[str, ModelUsage] = {}
        while time.monotonic() < deadline:
            usage = self.usage_by_model(workspace)
            total = sum(u.requests for u in usage.values())
            now = time.monotonic()
            if total != last_total:
                last_total, last_change = total, now
            elif total >= expected_min and now - last_change >= quiet:
                break
            time.sleep(0.5)
        return usage
