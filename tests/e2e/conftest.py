"""Fixtures of the end-to-end suite: real etcd, control plane, data plane and mock provider
processes on loopback, driven with the official `openai` client and the gRPC admin API.

One stack (etcd + control plane + mock + data plane) is shared by the whole session; each
module works in its own workspace so modules never see each other's keys or usage. Modules
that break things on purpose (killing the control plane, writing a bad config) start their
own stack with `stack_factory`. Every secret a stack or tenant creates is registered in
`secret_registry`, and every process log lands in one directory, so test_secrets.py can
check that none of them was ever written anywhere.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest

from controlplane import keyring
from tests.support.oggy_clients import AdminClient, Tenant, create_tenant, openai_client
from tests.support.processes import (
    ControlPlane,
    DataPlane,
    Etcd,
    MockProvider,
    Processes,
    start_control_plane,
    start_data_plane,
    start_etcd,
    start_mock_provider,
)

# Captured stdout/stderr/log of every e2e test phase, for the secrets scan.
CAPTURED_OUTPUT: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    CAPTURED_OUTPUT.extend(content for _, content in report.sections)


@dataclass
class Stack:
    """One etcd, control plane, mock provider and data plane, plus an admin client."""

    name: str
    root: Path
    procs: Processes
    etcd: Etcd
    cp: ControlPlane
    mock: MockProvider
    dp: DataPlane
    admin: AdminClient
    extra_dataplanes: list[DataPlane] = field(default_factory=list)

    def start_dataplane(
        self,
        node_id: str,
        *extra_args: str,
        spool_dir: Path | None = None,
        wait_ready: bool = True,
    ) -> DataPlane:
        """Another data plane on this stack's control plane (`spool_dir` to reuse a spool)."""
        dp = start_data_plane(
            self.procs,
            self.cp,
            spool_dir or self.root / f"spool-{node_id}",
            node_id=node_id,
            extra_args=extra_args,
            wait_ready=wait_ready,
        )
        self.extra_dataplanes.append(dp)
        return dp

    def restart_control_plane(self) -> ControlPlane:
        """A new control plane process on the same port and state dir."""
        self.cp = start_control_plane(
            self.procs, self.etcd.url, self.cp.state_dir, grpc=self.cp.address
        )
        return self.cp

    def ensure_control_plane(self) -> None:
        """Restart the control plane if an earlier (failed) test left it dead."""
        if not self.cp.child.alive():
            self.restart_control_plane()

    def stop(self) -> None:
        self.admin.close()
        for child in (
            *(d.child for d in self.extra_dataplanes),
            self.dp.child,
            self.mock.child,
            self.cp.child,
            self.etcd.child,
        ):
            child.stop()


def start_stack(procs: Processes, root: Path, name: str, secrets: dict[str, str]) -> Stack:
    etcd = start_etcd(procs, root / "etcd")
    cp = start_control_plane(procs, etcd.url, root / "cp-state")
    for label, value in state_dir_secrets(cp.state_dir).items():
        secrets[f"{name} {label}"] = value
    mock = start_mock_provider(procs)
    dp = start_data_plane(procs, cp, root / "spool", node_id=f"dp-{name}")
    admin = AdminClient(cp.address, cp.admin_token)
    return Stack(name, root, procs, etcd, cp, mock, dp, admin)


def state_dir_secrets(state_dir: Path) -> dict[str, str]:
    """The admin and node tokens and the KEK, in every form a log line could show them."""
    found = {
        name: (state_dir / name).read_text(encoding="utf-8").strip()
        for name in ("admin_token", "node_token")
    }
    kek_path = state_dir / "kek"
    ring = keyring.loads(kek_path.read_text(encoding="utf-8"), str(kek_path))
    for index, kek in enumerate((ring.primary, *ring.previous)):
        found[f"kek{index} (hex)"] = kek.key.hex()
        found[f"kek{index} (base64)"] = kek.to_base64()
        found[f"kek{index} (base64url)"] = base64.urlsafe_b64encode(kek.key).decode().rstrip("=")
    return {label: value for label, value in found.items() if value}


@pytest.fixture(scope="session")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    procs = Processes(tmp_path_factory.mktemp("process-logs"))
    yield procs
    leftovers = procs.close()
    assert not leftovers, f"child processes survived teardown: {leftovers}"


class SecretRegistry(dict[str, str]):
    """Label → secret. Its repr shows labels only, so a failing test never prints a secret."""

    def __repr__(self) -> str:
        return f"SecretRegistry({sorted(self)})"


@pytest.fixture(scope="session")
def secret_registry() -> dict[str, str]:
    """Every secret any e2e fixture created, by label; test_secrets.py scans all output."""
    return SecretRegistry()


@pytest.fixture(scope="session")
def stack_factory(
    processes: Processes,
    tmp_path_factory: pytest.TempPathFactory,
    secret_registry: dict[str, str],
) -> Iterator[Callable[[str], Stack]]:
    """Starts a private stack (for modules that kill or corrupt things); stopped at session end
    at the latest, or earlier by the module that owns it."""
    started: list[Stack] = []

    def factory(name: str) -> Stack:
        root = tmp_path_factory.mktemp(f"stack-{name}")
        stack = start_stack(processes, root, name, secret_registry)
        started.append(stack)
        return stack

    yield factory
    for stack in started:
        stack.stop()


@pytest.fixture(scope="session")
def stack(stack_factory: Callable[[str], Stack]) -> Stack:
    """The stack shared by every module that does not break it."""
    return stack_factory("shared")


@pytest.fixture(scope="session")
def admin(stack: Stack) -> AdminClient:
    return stack.admin


def register_tenant(secrets: dict[str, str], tenant: Tenant) -> Tenant:
    secrets[f"{tenant.workspace} provider api key"] = tenant.provider_api_key
    register_key(secrets, tenant.key_name, tenant.key_text)
    return tenant


def register_key(secrets: dict[str, str], key_name: str, key_text: str) -> None:
    secrets[f"{key_name} gateway key text"] = key_text
    secrets[f"{key_name} gateway key secret"] = key_text.rsplit("_", 1)[1]


@pytest.fixture(scope="module")
def tenant(stack: Stack, secret_registry: dict[str, str], request: pytest.FixtureRequest) -> Tenant:
    """A fresh workspace with a provider credential at the mock and a gateway key that the
    shared data plane already accepts."""
    prefix = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    prefix = prefix.removeprefix("test-").strip("-")[:20] or "ws"
    return register_tenant(
        secret_registry, create_tenant(stack.admin, stack.mock.url, stack.dp.url, prefix=prefix)
    )


@pytest.fixture(scope="module")
def gateway_key(tenant: Tenant) -> str:
    """The tenant's gateway key text."""
    return tenant.key_text


@pytest.fixture(scope="module")
def client(stack: Stack, gateway_key: str) -> Iterator[openai.OpenAI]:
    with openai_client(stack.dp.url, gateway_key) as c:
        yield c
