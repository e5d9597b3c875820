"""Child processes for `oggy up`: start, wait until ready, stop in reverse order.

Each child writes stdout+stderr to `<log-dir>/<name>.log` through a pump thread that also
looks for the line saying the child is serving. Children stay in our session but get their
own process group, so a terminal's Ctrl-C reaches only `oggy up`, which then stops them
newest first; they get SIGTERM from the kernel if we die first (Linux PR_SET_PDEATHSIG),
so even a SIGKILLed `oggy up` leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from controlplane.cli.errors import CliError

STOP_GRACE_S = 10.0
TAIL_LINES = 30


class ChildFailed(CliError):
    """A child exited, or did not become ready in time."""


class Stopping(CliError):
    """We were asked to stop (signal) while waiting for a child."""


def _tied_to_us(argv: Sequence[str]) -> list[str]:
    """`argv` run through the launcher that ties the child's life to ours (Linux)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    launcher = [sys.executable, "-m", "controlplane.cli.die_with_parent", str(os.getpid())]
    return [*launcher, *argv]


class Child:
    """One supervised process, its log file, and what it printed when ready."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_path: Path, echo: bool):
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        # Every line until the ready line is found (then None: the log file has them).
        self._lines: list[str] | None = []
        self._cond = threading.Condition()
        self._eof = False
        self._echo = echo
        self._thread = threading.Thread(target=self._pump, name=f"pump-{name}", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        with self.log_path.open("ab") as log:
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if self._echo:
                    print(f"[{self.name}] {line}", file=sys.stderr, flush=True)
                with self._cond:
                    self._tail.append(line)
                    if self._lines is not None:
                        self._lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _exit_code(self) -> int | None:
        # Output can end a moment before the process is reaped: give it that moment.
        try:
            return self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def tail(self) -> str:
        with self._cond:
            return "\n".join(f"  {line}" for line in self._tail)

    def failure(self, what: str) -> ChildFailed:
        return ChildFailed(f"{self.name} {what} (log: {self.log_path}); last lines:\n{self.tail()}")

    def wait_for_line(
        self, pattern: re.Pattern[str], timeout: float, stop: threading.Event
    ) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                lines = self._lines or []
                for line in lines[seen:]:
                    match = pattern.search(line)
                    if match:
                        self._lines = None
                        return match
                seen = len(lines)
                if stop.is_set():
                    raise Stopping("interrupted")
                if self._eof or not self.alive:
                    raise self.failure(f"exited (code {self._exit_code()}) before it was ready")
                if time.monotonic() > deadline:
                    raise self.failure(f"was not ready within {timeout:.0f}s")
                self._cond.wait(timeout=0.1)

    def wait_http_ok(self, url: str, timeout: float, stop: threading.Event) -> None:
        """Poll `url` until it answers 200, this child dies, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            if stop.is_set():
                raise Stopping("interrupted")
            if not self.alive:
                raise self.failure(f"exited (code {self._exit_code()}) before {url} answered")
            if time.monotonic() > deadline:
                raise self.failure(f"did not answer {url} within {timeout:.0f}s ({last})")
            stop.wait(0.1)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM, wait up to `grace`, then SIGKILL."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                print(f"{self.name} did not stop in {grace:.0f}s: killing it", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait()
        self._thread.join(timeout=2)


class Supervisor:
    """Owns the children of one `oggy up`; `stop_all()` stops them newest first."""

    def __init__(self, log_dir: Path, echo: bool = False) -> None:
        self.log_dir = log_dir
        self.echo = echo
        self.children: list[Child] = []
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
    ) -> Child:
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}\n".encode())
        child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        # The launcher execs argv: tell a missing program apart before it does.
        if shutil.which(argv[0], path=child_env.get("PATH")) is None:
            raise CliError(f"cannot start {name}: {argv[0]} not found")
        try:
            proc = subprocess.Popen(
                _tied_to_us(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=False,
                # Own process group, same session: a terminal's Ctrl-C reaches only us,
                # and we stop the children in order (data plane first, etcd last).
                process_group=0,
            )
        except FileNotFoundError:
            raise CliError(f"cannot start {name}: {argv[0]} not found") from None
        child = Child(name, proc, log_path, self.echo)
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        return next((c for c in self.children if not c.alive), None)

    def stop_all(self, grace: float = STOP_GRACE_S) -> None:
        # Newest first: the data plane flushes usage to a control plane that is still up,
        # and the control plane closes its etcd session before etcd goes away.
        for child in reversed(self.children):
            child.stop(grace)
