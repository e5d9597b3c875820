"""Start and stop the real processes the end-to-end suite drives.

etcd, the control plane, data planes and the mock provider each run as a child process in
its own process group, with stdout and stderr captured to files in one log directory, so a
test can read (or scan for secrets) every line any of them wrote. Startup waits on the
line each process prints when it is serving, bounded; teardown stops whole process groups
(SIGTERM, then SIGKILL) so nothing outlives the session.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.etcd import start_etcd as launch_etcd

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0

_CP_LISTENING = re.compile(r"controlplane listening on (\S+):(\d+)")
_DP_LISTENING = re.compile(r"dataplane listening on (http://\S+:\d+)")
_MOCK_LISTENING = re.compile(r"mock provider listening on (http://\S+:\d+)")
# Environment a child must not inherit from whoever runs the tests.
_SCRUBBED_ENV = ("OGGY_ADMIN_TOKEN", "OGGY_NODE_TOKEN", "OGGY_LOG_LEVEL")


class ProcessStartError(RuntimeError):
    """A child exited or did not report it was serving in time."""


@dataclass
class Child:
    """One child process and the files its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    # Set once the group has been killed and reaped: later stops must not signal a
    # process group id the system may since have given to someone else.
    finished: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr(self) -> str:
        return _read_text(self.stderr_path)

    def output(self) -> str:
        return _read_text(self.stdout_path) + _read_text(self.stderr_path)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL the whole process group (a crash, as far as the child can tell)."""
        if self.finished:
            return
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT_S)
        self.finished = True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the group, SIGKILL it if it lingers; returns the exit code."""
        if self.finished:
            return self.popen.returncode
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        # Grandchildren left in the group go too.
        self._signal_group(signal.SIGKILL)
        self.finished = True
        return self.popen.returncode

    def _signal_group(self, sig: int) -> None:
        try:
            leader = os.getpgid(self.popen.pid) == self.popen.pid
        except ProcessLookupError:
            leader = True  # already reaped: any leftover group still has our pid as pgid
        try:
            if leader:
                os.killpg(self.popen.pid, sig)
            elif self.popen.poll() is None:
                # Not a group leader (a process handed to us): signal it alone.
                self.popen.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            return


class Processes:
    """Owns every child started by a test session; `close()` stops all of them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)
        # If the session dies before fixture teardown, children still go with it.
        atexit.register(self.close)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
    ) -> Child:
        base = f"{len(self.children):02d}-{name}"
        stdout_path = self.log_dir / f"{base}.stdout.log"
        stderr_path = self.log_dir / f"{base}.stderr.log"
        child_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        child_env["PYTHONUNBUFFERED"] = "1"
        child_env.update(env or {})
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=REPO,
                env=child_env,
                start_new_session=True,
            )
        child = Child(name, popen, stdout_path, stderr_path)
        self.children.append(child)
        return child

    def adopt(self, name: str, popen: subprocess.Popen[bytes], log_path: Path | None) -> Child:
        """Track a process started elsewhere (e.g. by tests/support/etcd.py)."""
        path = log_path or self.log_dir / f"{len(self.children):02d}-{name}.unavailable.log"
        path.touch(exist_ok=True)
        child = Child(name, popen, path, path)
        self.children.append(child)
        return child

    def log_files(self) -> list[Path]:
        files = {p for p in self.log_dir.rglob("*") if p.is_file()}
        files.update(p for c in self.children for p in (c.stdout_path, c.stderr_path))
        return sorted(files)

    def close(self) -> list[str]:
        """Stop every child (newest first); returns names of any that could not be reaped."""
        stopping = [c for c in reversed(self.children) if not c.finished]
        for child in stopping:
            child.stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while True:
            leftovers = [
                f"{c.name} (pid {c.pid})" for c in stopping if c.alive() or _group_exists(c.pid)
            ]
            if not leftovers or time.monotonic() > deadline:
                return leftovers
            time.sleep(0.05)


@dataclass
class Etcd:
    child: Child
    url: str
    data_dir: Path
    ports: tuple[int, int]  # client, peer
    extra_args: Sequence[str] = ()


@dataclass
class ControlPlane:
    child: Child
    address: str
    state_dir: Path
    etcd_url: str

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])

    @property
    def admin_token(self) -> str:
        return (self.state_dir / "admin_token").read_text(encoding="utf-8").strip()

    @property
    def node_token(self) -> str:
        return (self.state_dir / "node_token").read_text(encoding="utf-8").strip()


@dataclass
class DataPlane:
    child: Child
    url: str
    spool_dir: Path
    node_id: str


@dataclass
class MockProvider:
    child: Child
    url: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_etcd(
    procs: Processes,
    data_dir: Path,
    *,
    ports: tuple[int, int] | None = None,
    extra_args: Sequence[str] = (),
) -> Etcd:
    """etcd on loopback; `ports` (client, peer) default to free ones."""
    ports = ports or (free_port(), free_port())
    popen, url = launch_etcd(data_dir, ports=ports, extra_args=extra_args)
    # launch_etcd tees etcd's output to etcd.log
    return Etcd(procs.adopt("etcd", popen, data_dir / "etcd.log"), url, data_dir, ports, extra_args)


def restart_etcd(procs: Processes, etcd: Etcd) -> Etcd:
    """A stopped etcd again, on the same ports and data: clients find it where it was."""
    assert not etcd.child.alive(), "stop (or kill) etcd before restarting it"
    return start_etcd(procs, etcd.data_dir, ports=etcd.ports, extra_args=etcd.extra_args)


def start_control_plane(
    procs: Processes,
    etcd_url: str,
    state_dir: Path,
    *,
    grpc: str = "127.0.0.1:0",
    extra_args: Iterable[str] = (),
) -> ControlPlane:
    state_dir.mkdir(parents=True, exist_ok=True)
    child = procs.spawn(
        "controlplane",
        [
            sys.executable,
            "-m",
            "controlplane.cli.main",
            "controlplane",
            "--etcd",
            etcd_url,
            "--grpc",
            grpc,
            "--state-dir",
            str(state_dir),
            *extra_args,
        ],
    )
    match = wait_for_line(child, _CP_LISTENING, STARTUP_TIMEOUT_S)
    return ControlPlane(child, f"{match.group(1)}:{match.group(2)}", state_dir, etcd_url)


def start_data_plane(
    procs: Processes,
    control_plane: ControlPlane,
    spool_dir: Path,
    *,
    node_id: str,
    extra_args: Iterable[str] = (),
    wait_ready: bool = True,
) -> DataPlane:
    child = procs.spawn(
        f"dataplane-{node_id}",
        [
            sys.executable,
            "-m",
            "controlplane.cli.main",
            "dataplane",
            "--control-plane",
            control_plane.address,
            "--http",
            "127.0.0.1:0",
            "--spool-dir",
            str(spool_dir),
            "--node-id",
            node_id,
            *extra_args,
        ],
        env={"OGGY_NODE_TOKEN": control_plane.node_token},
    )
    url = wait_for_line(child, _DP_LISTENING, STARTUP_TIMEOUT_S).group(1)
    if wait_ready:
        _wait_http_ok(child, f"{url}/readyz", STARTUP_TIMEOUT_S)
    return DataPlane(child, url, spool_dir, node_id)


def start_mock_provider(procs: Processes) -> MockProvider:
    child = procs.spawn(
        "mock-provider",
        [sys.executable, "-m", "controlplane.devtools.mock_provider", "--port", "0"],
    )
    return MockProvider(child, wait_for_line(child, _MOCK_LISTENING, STARTUP_TIMEOUT_S).group(1))


def wait_for_line(child: Child, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
    """The first match of `pattern` in the child's stderr (then stdout), bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        for text in (child.stderr(), _read_text(child.stdout_path)):
            match = pattern.search(text)
            if match:
                return match
        if not child.alive():
            raise ProcessStartError(
                f"{child.name} exited with {child.popen.returncode} before printing "
                f"{pattern.pattern!r}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            raise ProcessStartError(
                f"{child.name} did not print {pattern.pattern!r} within {timeout}s:\n{child.tail()}"
            )
        time.sleep(0.05)


def _wait_http_ok(child: Child, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = repr(e)
        if not child.alive():
            raise ProcessStartError(
                f"{child.name} exited with {child.popen.returncode} while waiting for "
                f"{url}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            raise ProcessStartError(
                f"{child.name}: {url} not OK within {timeout}s ({last}):\n{child.tail()}"
            )
        time.sleep(0.05)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
