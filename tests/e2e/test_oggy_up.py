"""`oggy up --demo` as a user runs it: one command, an OpenAI SDK call, usage in the CLI,
Ctrl-C leaves nothing behind, and a second run reuses the state dir (same key, same data).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest

from controlplane.cli import main

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0


class Up:
    """A running `oggy up --demo` and the lines it printed."""

    def __init__(self, state_dir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OGGY_")}
        argv = [sys.executable, "-m", "controlplane.cli.main", "up", "--demo"]
        with (state_dir.parent / f"{state_dir.name}-up.stderr").open("ab") as stderr:
            self.proc = subprocess.Popen(
                [*argv, "--state-dir", str(state_dir), "--http-port", "0"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
                env=env,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._wait_up()
        self.endpoints = json.loads((state_dir / "endpoints.json").read_text())

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _wait_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.2).startswith("oggy is up"):
                    return
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"oggy up exited with {self.proc.returncode}") from None
        raise AssertionError("oggy up did not come up in time")

    def children(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
        return pids

    def stop(self, sig: int) -> list[int]:
        """Signal `oggy up`; returns the children that are still alive afterwards."""
        children = self.children()
        assert len(children) == 4, children  # mock, etcd, control plane, data plane
        self.proc.send_signal(sig)
        assert self.proc.wait(timeout=30) == 0
        time.sleep(0.2)
        return [pid for pid in children if Path(f"/proc/{pid}").exists() and not _zombie(pid)]


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def cli_json(state_dir: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> object:
    capsys.readouterr()
    assert main.run([*argv, "--format", "json", "--state-dir", str(state_dir)], env={}) == 0
    return json.loads(capsys.readouterr().out)


def wait_for_events(state_dir: Path, count: int, capsys: pytest.CaptureFixture[str]) -> list:
    deadline = time.monotonic() + 30
    while True:
        events = cli_json(state_dir, "usage", "list", capsys=capsys)
        assert isinstance(events, list)
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.3)


def test_oggy_up_demo_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = tmp_path / "state"
    up = Up(state_dir)
    try:
        ep = up.endpoints
        assert (state_dir / "endpoints.json").stat().st_mode & 0o777 == 0o600
        assert ep["workspace"] == "workspaces/demo"
        assert ep["models"] == ["gpt-4o-mini", "gpt-4o", "o3-mini"]
        client = openai.OpenAI(base_url=ep["gateway_url"], api_key=ep["gateway_key"])
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
        )
        assert reply.usage is not None and reply.usage.completion_tokens == 12
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "mock:words=3"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

        events = wait_for_events(state_dir, 2, capsys)
        assert sorted(e["model"] for e in events) == ["gpt-4o", "gpt-4o-mini"]
        rows = cli_json(state_dir, "usage", "summary", "--by", "model", capsys=capsys)
        assert isinstance(rows, list)
        assert {r["group"][0]: r["completion_tokens"] for r in rows} == {
            "gpt-4o": "3",
            "gpt-4o-mini": "12",
        }
    finally:
        leftovers = up.stop(signal.SIGTERM) if up.proc.poll() is None else []
    assert leftovers == []

    # Second run on the same state dir: same key, same usage, still serving.
    again = Up(state_dir)
    try:
        assert again.endpoints["gateway_key"] == ep["gateway_key"]
        client = openai.OpenAI(
            base_url=again.endpoints["gateway_url"], api_key=again.endpoints["gateway_key"]
        )
        client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "x"}])
        assert len(wait_for_events(state_dir, 3, capsys)) == 3
    finally:
        leftovers = again.stop(signal.SIGINT) if again.proc.poll() is None else []
    assert leftovers == []
