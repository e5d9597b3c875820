"""A real etcd on free loopback ports with a temporary data dir, for tests.

`start_etcd(tmp_path) -> (process, endpoint_url)` returns once etcd says it serves
clients; its output is teed to `<tmp_path>/etcd.log`. Pass the same `ports` and data dir
again to restart a stopped etcd where clients expect it. The `etcd_endpoint` fixture
(session-wide, import `etcd_endpoint_fixture` into a test module or conftest) shares
one etcd; isolate tests with a unique key prefix (see `unique_prefix`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

ETCD_BINARY = os.environ.get("OGGY_TEST_ETCD", shutil.which("etcd") or "/usr/bin/etcd")
STARTUP_TIMEOUT_S = 30.0
# Printed (zap or capnslog) once etcd has a leader and accepts client requests.
_READY_MARKERS = (b"serving client traffic", b"ready to serve client requests")
_PR_SET_PDEATHSIG = 1


class EtcdStartError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tee(stream, log_path: Path, ready: threading.Event) -> None:
    # Reads etcd's output for its whole life, so the pipe never fills up.
    with log_path.open("ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            if not ready.is_set() and any(m in line for m in _READY_MARKERS):
                ready.set()
    ready.set()  # EOF: wake the starter, which then sees the process died


def _die_with_parent() -> None:
    # Linux: if the test runner is killed, etcd gets SIGTERM instead of living on.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_etcd(
    tmp_path: Path, *, ports: tuple[int, int] | None = None, extra_args: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """etcd with its data in `tmp_path`; `ports` (client, peer) default to free ones."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    client, peer = ports or (_free_port(), _free_port())
    url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    process = subprocess.Popen(
        [
            ETCD_BINARY,
            "--name=oggy-test",
            f"--data-dir={tmp_path / 'data'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=oggy-test={peer_url}",
            "--logger=zap",
            *extra_args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a test harness can kill it whole
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    ready = threading.Event()
    threading.Thread(
        target=_tee, args=(process.stdout, tmp_path / "etcd.log", ready), daemon=True
    ).start()
    if not ready.wait(STARTUP_TIMEOUT_S) or process.poll() is not None:
        stop_etcd(process)
        raise EtcdStartError(f"etcd did not start; see {tmp_path / 'etcd.log'}")
    return process, url


def stop_etcd(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def unique_prefix() -> str:
    """A fresh store prefix, so tests sharing one etcd never see each other's keys."""
    return f"/test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture(scope="session", name="etcd_endpoint")
def etcd_endpoint_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_etcd(tmp_path_factory.mktemp("etcd"))
    try:
        yield url
    finally:
        stop_etcd(process)
