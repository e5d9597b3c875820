"""`oggy up`'s supervisor with plain Python children: ready lines, failures, no orphans."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from controlplane.cli.supervisor import ChildFailed, Stopping, Supervisor

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def test_wait_for_line_then_stop_with_sigterm(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    code = (
        "import time; print('noise'); print('ready on 127.0.0.1:1234', flush=True); time.sleep(60)"
    )
    child = sup.start("worker", [sys.executable, "-c", code])
    match = child.wait_for_line(re.compile(r"ready on (\S+)"), 10, threading.Event())
    assert match.group(1) == "127.0.0.1:1234"
    sup.stop_all(grace=5)
    assert child.proc.returncode == -15
    assert "ready on" in (tmp_path / "logs" / "worker.log").read_text()


def test_child_that_exits_early_fails_with_its_last_lines(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = sup.start(
        "broken", [sys.executable, "-c", "print('boom: bad flag'); raise SystemExit(3)"]
    )
    with pytest.raises(ChildFailed, match=r"(?s)broken exited \(code 3\).*boom: bad flag"):
        child.wait_for_line(re.compile("never"), 10, threading.Event())


def test_stop_event_interrupts_a_wait(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Stopping):
        child.wait_for_line(re.compile("never"), 30, stop)
    sup.stop_all(grace=5)


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True); time.sleep(60)"
    )
    child = sup.start("stubborn", [sys.executable, "-c", code])
    child.wait_for_line(re.compile("up"), 10, threading.Event())
    started = time.monotonic()
    sup.stop_all(grace=0.5)
    assert child.proc.returncode == -9
    assert time.monotonic() - started < 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_children_die_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    # A parent process runs a Supervisor, reports its child's pid, and is SIGKILLed:
    # it cannot clean up, so only the kernel's parent-death signal can stop the child.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from controlplane.cli.supervisor import Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}))
        child = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(120)"])
        print(child.proc.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert _alive(child_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child_pid), "child outlived its supervisor"
