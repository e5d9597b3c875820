"""Child processes for the bench: pinned to a CPU, logs to files, readiness by log line."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class BenchError(RuntimeError):
    """A bench step failed; the message says which and why."""


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the OS picked it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match[str]:
        """Poll the log file until `pattern` matches; fail fast if the child exits."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            match = regex.search(text)
            if match:
                return match
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode} before ready:\n{self.tail()}"
                )
            time.sleep(0.05)
        raise BenchError(f"{self.name} not ready after {timeout:.0f}s:\n{self.tail()}")

    def peak_rss_kib(self) -> int:
        """VmHWM (peak resident set) of the live process, in KiB."""
        return self._status_kib("VmHWM")

    def rss_kib(self) -> int:
        """VmRSS (current resident set) of the live process, in KiB."""
        return self._status_kib("VmRSS")

    def _status_kib(self, field: str) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+)\s+kB", status, re.MULTILINE)
        if not match:
            raise BenchError(f"no {field} for {self.name} (pid {self.pid})")
        return int(match.group(1))

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start(
    name: str,
    cmd: Sequence[str],
    *,
    cpu: int | None,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    background: bool = False,
) -> Child:
    """Start `cmd` (pinned with `taskset -c cpu` when given), stdout+stderr to a log file.

    `background`: under SCHED_IDLE (`chrt --idle 0`), for a process that shares the load
    generator's and the mock's core only because the machine has two. In a deployment
    the control plane and etcd run elsewhere; here, at normal priority, their bursts
    (usage ingest every flush) delay wrk's and nginx's wakeups by a scheduler slice and
    show up as the data plane's tail latency (measured: p99 at c=1 3.6 ms with the
    control plane running, 1.3 ms with it paused). A SCHED_IDLE task yields at once.
    taskset and chrt exec the command, so the child's pid is the pinned process's.
    """
    argv = [
        *(["taskset", "-c", str(cpu)] if cpu is not None else []),
        *(["chrt", "--idle", "0"] if background else []),
        *cmd,
    ]
    log = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
        )
    return Child(name=name, proc=proc, log=log)


def wait_http_ok(url: str, timeout: float, child: Child | None = None) -> None:
    """Poll `url` until it answers 2xx."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if child is not None and child.proc.poll() is not None:
            raise BenchError(f"{child.name} exited before {url} was ready:\n{child.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if 200 <= resp.status < 300:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise BenchError(f"{url} not ready after {timeout:.0f}s ({last})")


class Children:
    """Stops every started child in reverse order, whatever happens."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def add(self, child: Child) -> Child:
        self._children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self._children):
            with contextlib.suppress(Exception):
                child.stop()
        self._children.clear()
