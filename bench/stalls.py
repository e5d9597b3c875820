"""What stalls the data plane's event loop at one connection, and which syscalls block.

Starts the bench stack (nginx mock, etcd, control plane) and a data plane pinned to CPU 0
through `stalls.py --inner`, which wraps the real `oggy dataplane` with instruments:

- loop lag: a callback re-armed every 1 ms; a gap > 2 ms between two runs is a stall;
- gc.callbacks: every collection, with its generation and duration;
- the wall time of the usage path's blocking parts (journal, spool) and which thread ran
  them; a stall is attributed to those that overlap it.

wrk then loads it at one connection (non-stream, then stream). With `--trace`, `perf trace`
records every syscall of the data plane slower than 1 ms, per thread and file kind. The
instruments cost the SUT a little CPU: compare runs of this tool, not with run.py's.

    .venv/bin/python bench/stalls.py [--seconds 8] [--trace]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STALL_S = 0.002
WRAPPED = (
    ("dataplane.usage.journal", "Journal", ("append", "append_serialized", "rotate", "remove")),
    ("dataplane.usage.spool", "Spool", ("append", "ack", "read")),
)


def inner(out: str, argv: list[str]) -> None:
    """In the data plane process: install the instruments, then run `oggy <argv>`."""
    import asyncio
    import gc
    import importlib

    sys.path.insert(0, str(HERE.parent))
    events: list[tuple[float, float, str]] = []  # (start, seconds, what)
    clock = time.perf_counter
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_start[0] = clock()
        else:
            events.append((gc_start[0], clock() - gc_start[0], f"gc gen{info['generation']}"))

    gc.callbacks.append(on_gc)

    def timed(fn, label):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                d = clock() - t
                if d > 0.0002:
                    events.append((t, d, f"{label} [{threading.current_thread().name}]"))

        return wrapper

    for module, cls_name, names in WRAPPED:
        cls = getattr(importlib.import_module(module), cls_name)
        for name in names:
            if hasattr(cls, name):
                setattr(cls, name, timed(getattr(cls, name), f"{cls_name}.{name}"))

    server = importlib.import_module("dataplane.server")
    tune_gc = server.tune_gc

    def tune_gc_and_watch() -> None:
        tune_gc()
        loop = asyncio.get_running_loop()
        last = [clock()]

        def beat() -> None:
            now = clock()
            if now - last[0] > STALL_S:
                events.append((last[0], now - last[0], "LOOP STALL"))
            last[0] = now
            loop.call_later(0.001, beat)

        loop.call_later(0.001, beat)

    server.tune_gc = tune_gc_and_watch

    def dump(*_: object) -> None:
        Path(out).write_text(json.dumps(events))

    signal.signal(signal.SIGUSR2, dump)
    from controlplane.cli.main import main

    sys.argv = ["oggy", *argv]
    main()


def summarise(events: list[list], t0: float, t1: float) -> list[str]:
    events = [e for e in events if t0 <= e[0] <= t1]
    span = t1 - t0
    by_what: dict[str, list[float]] = collections.defaultdict(list)
    for _, d, what in events:
        by_what[what].append(d)
    lines = []
    for what, ds in sorted(by_what.items(), key=lambda kv: -sum(kv[1])):
        ds.sort()
        lines.append(
            f"  {what:44s} {len(ds):6d} ({len(ds) / span:6.1f}/s)  "
            f"p50 {ds[len(ds) // 2] * 1e3:6.2f} ms  max {ds[-1] * 1e3:6.2f} ms"
        )
    if not any(w.startswith("gc") for w in by_what):
        lines.append("  gc: no collection")
    overlaps: collections.Counter[str] = collections.Counter()
    for t, d, what in events:
        if what != "LOOP STALL":
            continue
        during = {
            w.split(" [")[0]
            for t2, d2, w in events
            if w != "LOOP STALL" and t2 < t + d and t2 + d2 > t
        }
        overlaps[", ".join(sorted(during)) or "(nothing instrumented)"] += 1
    lines.append(
        "  loop stalls overlapped by: " + "; ".join(f"{k}: {n}" for k, n in overlaps.most_common(8))
    )
    return lines


_SYSCALL = re.compile(r"\( *([0-9.]+) ms\): (\S+?)/(\d+) (\w+)\((?:fd: \d+<[^>]*?(\.\w+)?>)?")


def slow_syscalls(trace: Path, main_tid: int) -> list[str]:
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for line in trace.read_text(errors="replace").splitlines():
        m = _SYSCALL.search(line)
        if not m or m.group(4) in ("epoll_pwait", "epoll_wait", "futex", "poll", "select"):
            continue
        thread = "event loop" if int(m.group(3)) == main_tid else f"thread {m.group(3)}"
        counts[(thread, m.group(4), m.group(5) or "")] += 1
    return [f"  {t}: {call}({kind or '-'}) x{n}" for (t, call, kind), n in counts.most_common(12)]


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--inner":
        inner(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--trace", action="store_true", help="perf trace syscalls > 1 ms")
    parser.add_argument(
        "--pause-controlplane",
        action="store_true",
        help="then measure again with the control plane SIGSTOPped (no usage ingest on CPU 1)",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    import mock_nginx
    import oggy_stack
    import procs
    import wrk_load
    from run import JSON_BODY, LOAD_CPU, SSE_BODY, SUT_CPU

    tmp = Path(tempfile.mkdtemp(prefix="oggy-stalls-"))
    children = procs.Children()
    try:
        where = {"cpu": LOAD_CPU, "log_dir": tmp, "children": children}
        mock = mock_nginx.start(tmp / "nginx", **where)
        _, etcd_url = oggy_stack.start_etcd(tmp / "etcd", **where)
        cp, cp_addr = oggy_stack.start_controlplane(etcd_url, tmp / "state", **where)
        state = tmp / "state"
        admin = oggy_stack.Admin(cp_addr, (state / "admin_token").read_text().strip())
        tenant = admin.setup(mock.json_base_url, mock.sse_base_url)
        out = tmp / "events.json"
        (tmp / "spool").mkdir()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--inner", str(out), "dataplane"]
        cmd += ["--control-plane", cp_addr, "--http", "127.0.0.1:0"]
        cmd += ["--spool-dir", str(tmp / "spool")]
        env = {"OGGY_NODE_TOKEN": (state / "node_token").read_text().strip()}
        dp = children.add(
            procs.start("dataplane", cmd, cpu=SUT_CPU, log_dir=tmp, env=env, cwd=HERE.parent)
        )
        url = dp.wait_for_log(r"dataplane listening on (http://\S+:\d+)", 30).group(1)
        procs.wait_http_ok(f"{url}/readyz", 30, dp)
        api = f"{url}/v1/chat/completions"
        runs = [("non-stream", JSON_BODY), ("stream", SSE_BODY)]
        wrk_load.run(
            wrk_load.Request(api, JSON_BODY, tenant.key_text),
            connections=8,
            seconds=2,
            cpu=LOAD_CPU,
            script_dir=tmp,
        )
        tracer = None
        if args.trace:
            trace = tmp / "trace.txt"
            perf = ["perf", "trace", "-p", str(dp.pid), "--duration", "1", "-o", str(trace)]
            tracer = subprocess.Popen(["taskset", "-c", str(LOAD_CPU), *perf])
        t0 = time.perf_counter()
        phases = [("", None)]
        if args.pause_controlplane:
            phases.append((", control plane paused", signal.SIGSTOP))
        for phase, sig in phases:
            if sig is not None:
                os.kill(cp.pid, sig)
            try:
                for label, body in runs:
                    r = wrk_load.run(
                        wrk_load.Request(api, body, tenant.key_text),
                        connections=1,
                        seconds=args.seconds,
                        cpu=LOAD_CPU,
                        script_dir=tmp,
                        sut_pid=dp.pid,
                    )
                    cpu = r.cpu
                    print(
                        f"c1 {label}{phase}: {r.rps:,.0f} rps, p50 {r.p50_us / 1e3:.2f} ms, "
                        f"p90 {r.p90_us / 1e3:.2f} ms, p99 {r.p99_us / 1e3:.2f} ms, "
                        f"max {r.max_us / 1e3:.2f} ms"
                        + (
                            f" (cpu0 other {cpu.cpu0_other:.0%}, cpu1 {cpu.cpu1_busy:.0%})"
                            if cpu
                            else ""
                        )
                    )
            finally:
                if sig is not None:
                    os.kill(cp.pid, signal.SIGCONT)
        t1 = time.perf_counter()
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        os.kill(dp.pid, signal.SIGUSR2)
        time.sleep(1.0)
        print(f"instrumented, over {t1 - t0:.1f} s (stall = loop callback late by > 2 ms):")
        print("\n".join(summarise(json.loads(out.read_text()), t0, t1)))
        if tracer is not None:
            print("syscalls slower than 1 ms (perf trace):")
            print("\n".join(slow_syscalls(tmp / "trace.txt", dp.pid)) or "  none")
    finally:
        children.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
