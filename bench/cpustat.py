"""Who used the CPUs during a run: per-CPU busy time and the SUT's own CPU time.

The VM running the bench may be shared; these figures tell a clean run (the SUT owns
CPU 0, CPU 1 has headroom) from one disturbed by other work or capped by the load side.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuShare:
    """Fractions of one CPU's wall time over a run (1.0 = fully busy)."""

    sut: float  # the SUT process (all threads), user + system
    cpu0_busy: float
    cpu1_busy: float

    @property
    def cpu0_other(self) -> float:
        """CPU 0 time not charged to the SUT process (softirqs, other processes)."""
        return max(0.0, self.cpu0_busy - self.sut)


def _cpu_ticks() -> dict[str, tuple[int, int]]:
    """Per CPU: (busy, total) in clock ticks since boot."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        out[name] = (sum(values) - idle, sum(values))
    return out


def _proc_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class Sampler:
    """`with Sampler(pid) as s: ...` then `s.share`."""

    def __init__(self, pid: int | None) -> None:
        self._pid = pid
        self.share: CpuShare | None = None

    def __enter__(self) -> Sampler:
        self._t0 = time.monotonic()
        self._cpu0 = _cpu_ticks()
        self._proc0 = _proc_ticks(self._pid) if self._pid else 0
        return self

    def __exit__(self, *exc: object) -> None:
        wall_ticks = (time.monotonic() - self._t0) * _TICK
        cpu1 = _cpu_ticks()
        proc1 = _proc_ticks(self._pid) if self._pid else 0

        def busy(name: str) -> float:
            if name not in cpu1 or name not in self._cpu0:
                return 0.0
            d_busy = cpu1[name][0] - self._cpu0[name][0]
            d_total = cpu1[name][1] - self._cpu0[name][1]
            return d_busy / d_total if d_total else 0.0

        self.share = CpuShare(
            sut=(proc1 - self._proc0) / wall_ticks if wall_ticks else 0.0,
            cpu0_busy=busy("cpu0"),
            cpu1_busy=busy("cpu1"),
        )


def busy_now(seconds: float = 2.0) -> dict[str, float]:
    """Busy fraction of every CPU over the next `seconds`."""
    before = _cpu_ticks()
    time.sleep(seconds)
    after = _cpu_ticks()
    out = {}
    for name, (busy1, total1) in after.items():
        busy0, total0 = before.get(name, (busy1, total1))
        out[name] = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
    return out


def wait_quiet(threshold: float, timeout: float) -> tuple[bool, float]:
    """Wait until every CPU is below `threshold` busy; (quiet?, busiest CPU's last share)."""
    deadline = time.monotonic() + timeout
    while True:
        worst = max(busy_now().values(), default=0.0)
        if worst <= threshold:
            return True, worst
        if time.monotonic() >= deadline:
            return False, worst
