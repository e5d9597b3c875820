"""Profile a process under load with py-spy and summarise the collapsed stacks.

py-spy is a dev tool, not a project dependency: `.venv/bin/pip install py-spy`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """Path of the py-spy binary next to this interpreter, or on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def record(pid: int, seconds: int, output: Path, *, cpu: int, rate: int = 250) -> str:
    """Sample `pid` for `seconds` (only the thread holding the GIL) into collapsed stacks."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy not installed: .venv/bin/pip install py-spy")
    cmd = [
        "taskset",
        "-c",
        str(cpu),
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        str(rate),
        "--gil",
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"py-spy failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def _frame_key(frame: str) -> str:
    """`func (path/file.py:123)` -> `func (path/file.py)`: a function, whatever line."""
    match = _FRAME.match(frame)
    return f"{match.group('func')} ({match.group('file')})" if match else frame


@dataclass(frozen=True)
class Summary:
    samples: int
    self_time: list[tuple[str, int]]
    inclusive: list[tuple[str, int]]
    self_by_file: list[tuple[str, int]]


def summarise(collapsed: str, top: int = 20) -> Summary:
    """Self and inclusive sample counts per function, and self counts per source file."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        count = int(match.group("count"))
        frames = [_frame_key(f) for f in match.group("stack").split(";") if f]
        if not frames:
            continue
        samples += count
        leaf = frames[-1]
        self_time[leaf] += count
        file_match = _FRAME.match(leaf)
        by_file[file_match.group("file") if file_match else leaf] += count
        for frame in set(frames):
            inclusive[frame] += count
    return Summary(
        samples=samples,
        self_time=self_time.most_common(top),
        inclusive=inclusive.most_common(top * 2),
        self_by_file=by_file.most_common(top),
    )


@dataclass(frozen=True)
class Window:
    """The recorded process's CPU time per request served (from an unprofiled run)."""

    cpu_us_per_request: float


def markdown(title: str, summary: Summary, window: Window, top: int = 15) -> str:
    def cols(n: int) -> str:
        share = n / summary.samples if summary.samples else 0.0
        return f"{100 * share:5.1f}% | {share * window.cpu_us_per_request:6.1f}"

    lines = [
        f"#### {title}: {window.cpu_us_per_request:.0f} µs CPU per request "
        f"({summary.samples} samples)",
        "",
    ]
    head = ["| % | µs/req | function |", "|---:|---:|---|"]
    lines += ["Self time (leaf function):", "", *head]
    lines += [f"| {cols(n)} | `{name}` |" for name, n in summary.self_time[:top]]
    lines += ["", "Self time by source file:", "", "| % | µs/req | file |", "|---:|---:|---|"]
    lines += [f"| {cols(n)} | `{name}` |" for name, n in summary.self_by_file[:top]]
    lines += ["", "Inclusive time (function on the stack):", "", *head]
    lines += [f"| {cols(n)} | `{name}` |" for name, n in summary.inclusive[: top * 2]]
    return "\n".join(lines) + "\n"
