"""Oggy benchmark: the data plane against a raw aiohttp pass-through floor, on loopback.

    .venv/bin/python bench/run.py [--quick] [--profile] [--skip-dataplane]

Starts nginx as the mock provider, measures it alone, then the floor (bench/passthrough.py)
and — when it exists — the real data plane behind a real control plane and etcd, with wrk.
Writes bench/RESULTS.md and prints the summary table. See report.py for the method text.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cpustat
import hotspots
import mock_nginx
import oggy_stack
import procs
import report
import wrk_load

SUT_CPU = 0
LOAD_CPU = 1  # nginx, wrk, etcd, control plane, py-spy
HERE = Path(__file__).resolve().parent
WARMUP_SECONDS = 1
PROFILE_RATE = 200
RETRIES = 2  # redo a measured run disturbed by other work at most this often
QUIET = 0.15  # a CPU this busy (or less) with nothing of ours running counts as quiet
QUIET_WAIT_S = 60.0


def _chat_body(model: str, stream: bool) -> str:
    body: dict[str, object] = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Write one sentence about the sea."},
        ],
        "max_tokens": 64,
        "temperature": 0.7,
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":"))


JSON_BODY = _chat_body(oggy_stack.JSON_MODEL, stream=False)
SSE_BODY = _chat_body(oggy_stack.SSE_MODEL, stream=True)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Tally:
    """Requests sent to the data plane per model: completed, and at most in flight at cut-off."""

    def __init__(self) -> None:
        self.completed: defaultdict[str, int] = defaultdict(int)
        self.in_flight: defaultdict[str, int] = defaultdict(int)

    def add(self, model: str, result: wrk_load.Result) -> None:
        self.completed[model] += result.requests
        self.in_flight[model] += result.connections


@dataclass(frozen=True)
class Target:
    """How to reach one SUT: a URL per flavour (the body already names the model)."""

    name: str
    json_url: str
    sse_url: str
    key: str
    child: procs.Child
    slug: str
    start_rss_kib: int
    tally: Tally | None = None  # set for the data plane: its usage is checked afterwards

    def json(self) -> wrk_load.Request:
        return wrk_load.Request(self.json_url, JSON_BODY, self.key)

    def sse(self) -> wrk_load.Request:
        return wrk_load.Request(self.sse_url, SSE_BODY, self.key)


def sanity(target: Target) -> None:
    """One request per flavour: 200, JSON with usage / SSE ending in [DONE]."""
    for url, body, stream in (
        (target.json_url, JSON_BODY, False),
        (target.sse_url, SSE_BODY, True),
    ):
        req = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {target.key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read().decode(errors="replace")
        ok = status == 200 and (
            "data: [DONE]" in text if stream else "usage" in json.loads(text or "{}")
        )
        if not ok:
            raise procs.BenchError(
                f"{target.name} sanity check failed: HTTP {status}: {text[:500]}"
            )


class Runner:
    def __init__(self, args: argparse.Namespace, tmp: Path, children: procs.Children) -> None:
        self.args = args
        self.tmp = tmp
        self.children = children
        self.seconds = args.seconds or (3.0 if args.quick else 10.0)
        self.rounds = args.rounds or (1 if args.quick else 3)
        self.redone = 0

    def load(
        self,
        request: wrk_load.Request,
        connections: int,
        seconds: float,
        sut: procs.Child | None = None,
    ) -> wrk_load.Result:
        result = wrk_load.run(
            request,
            connections=connections,
            seconds=seconds,
            cpu=LOAD_CPU,
            script_dir=self.tmp,
            sut_pid=sut.pid if sut else None,
        )
        cpu = result.cpu
        log(
            f"  c{connections:<3} {request.url}: {result.rps:,.0f} rps, "
            f"p50 {result.p50_us / 1000:.2f} ms, p99 {result.p99_us / 1000:.2f} ms, "
            f"errors {result.errors}"
            + (
                f"; SUT {cpu.sut:.0%} cpu0 other {cpu.cpu0_other:.0%} cpu1 {cpu.cpu1_busy:.0%}"
                if cpu
                else ""
            )
        )
        return result

    def _load_target(
        self, target: Target, stream: bool, connections: int, seconds: float
    ) -> wrk_load.Result:
        request = target.sse() if stream else target.json()
        result = self.load(request, connections, seconds, target.child)
        if target.tally is not None:
            target.tally.add(oggy_stack.SSE_MODEL if stream else oggy_stack.JSON_MODEL, result)
        return result

    def _measured(
        self, target: Target, stream: bool, connections: int, seconds: float
    ) -> wrk_load.Result:
        return self.undisturbed(lambda: self._load_target(target, stream, connections, seconds))

    def undisturbed(self, run: Callable[[], wrk_load.Result]) -> wrk_load.Result:
        """A measured run; redone (up to RETRIES times) when other work disturbed CPU 0."""
        for attempt in range(RETRIES + 1):
            result = run()
            cpu = result.cpu
            if cpu is None or cpu.cpu0_other <= report.DISTURBED or attempt == RETRIES:
                return result
            self.redone += 1
            log(f"  disturbed (cpu0 other {cpu.cpu0_other:.0%}): waiting for quiet, redoing")
            cpustat.wait_quiet(QUIET, QUIET_WAIT_S)
        raise AssertionError("unreachable")

    def warm_up(self, target: Target) -> None:
        sanity(target)
        if target.tally is not None:
            target.tally.completed[oggy_stack.JSON_MODEL] += 1
            target.tally.completed[oggy_stack.SSE_MODEL] += 1
        log(f"warm-up: {target.name}")
        for stream in (False, True):
            self._load_target(target, stream, 64, WARMUP_SECONDS)

    def measure(self, targets: list[Target]) -> list[report.SutRun]:
        """Interleaved rounds (ABBA order) of every kind of run on every target."""
        results = [report.SutRun(name=t.name) for t in targets]
        plan = (("rps_json", False, 64), ("rps_sse", True, 64))
        plan += (("lat_json", False, 1), ("lat_sse", True, 1))
        for i in range(self.rounds):
            order = list(zip(targets, results, strict=True))
            if i % 2:
                order.reverse()
            for kind, stream, connections in plan:
                for target, result in order:
                    log(f"round {i + 1}/{self.rounds} {kind}: {target.name}")
                    run = self._measured(target, stream, connections, self.seconds)
                    result.runs[kind].append(run)
        for target, result in zip(targets, results, strict=True):
            result.peak_rss_kib = target.child.peak_rss_kib()
            result.start_rss_kib = target.start_rss_kib
        return results

    def profile(self, targets: list[Target], measured: list[report.SutRun]) -> str:
        """py-spy each SUT while wrk loads it at c64, one recording per SUT and flavour.

        µs figures scale each function's share of the samples by the CPU time per request
        of the measured (unprofiled) runs, since sampling itself slows the SUT.
        """
        out_dir = Path(self.args.profile_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        seconds, rate = self.args.profile_seconds, PROFILE_RATE
        sections = []
        for label, stream, kind in (("non-stream", False, "rps_json"), ("stream", True, "rps_sse")):
            for target, sut in zip(targets, measured, strict=True):
                raw = out_dir / f"{target.slug}-{label}.txt"
                with ThreadPoolExecutor(1) as pool:
                    loaded = pool.submit(self._load_target, target, stream, 64, seconds + 2)
                    time.sleep(1)
                    log(f"  py-spy {target.name} {label} -> {raw}")
                    hotspots.record(target.child.pid, seconds, raw, cpu=LOAD_CPU, rate=rate)
                    loaded.result()
                summary = hotspots.summarise(raw.read_text())
                window = hotspots.Window(sut.cpu_us_per_request(kind))
                top = 15 if target.tally is not None else 8
                sections.append(
                    hotspots.markdown(f"{target.name}, c64 {label}", summary, window, top)
                )
        root = HERE.parent
        shown = out_dir.relative_to(root) if out_dir.is_relative_to(root) else out_dir
        intro = (
            f"`py-spy record --gil --rate {rate}` for {seconds} s while wrk loads the SUT at "
            "64 connections (py-spy and wrk on CPU 1; sampling pauses the SUT briefly, so "
            "these are extra runs, not the measured ones). µs CPU per request = the SUT's CPU "
            "time / requests served in the measured c64 runs (median); a function's µs/req = "
            f"its share of the GIL-holding samples x that. Collapsed stacks: `{shown}/`.\n"
        )
        return intro + "\n" + "\n".join(sections)

    def start_floor(self, mock: mock_nginx.Mock) -> Target:
        log("floor: bench/passthrough.py")
        cmd = [sys.executable, str(HERE / "passthrough.py"), "--upstream", mock.base]
        child = self.children.add(procs.start("floor", cmd, cpu=SUT_CPU, log_dir=self.tmp))
        url = child.wait_for_log(r"passthrough listening on (http://\S+:\d+)", 15).group(1)
        return Target(
            name="floor (aiohttp pass-through)",
            json_url=f"{url}/v1/chat/completions",
            sse_url=f"{url}/s/v1/chat/completions",
            key="floor",
            child=child,
            slug="floor",
            start_rss_kib=child.rss_kib(),
        )

    def start_dataplane(
        self, mock: mock_nginx.Mock
    ) -> tuple[Target, oggy_stack.Admin, oggy_stack.Tenant]:
        log("data plane: etcd + oggy controlplane + oggy dataplane")
        where = {"cpu": LOAD_CPU, "log_dir": self.tmp, "children": self.children}
        _, etcd_url = oggy_stack.start_etcd(self.tmp / "etcd", **where)
        state = self.tmp / "state"
        _, cp_addr = oggy_stack.start_controlplane(etcd_url, state, **where)
        admin = oggy_stack.Admin(cp_addr, (state / "admin_token").read_text().strip())
        tenant = admin.setup(mock.json_base_url, mock.sse_base_url)
        dp, url = oggy_stack.start_dataplane(
            cp_addr,
            (state / "node_token").read_text().strip(),
            self.tmp / "spool",
            cpu=SUT_CPU,
            log_dir=self.tmp,
            children=self.children,
        )
        target = Target(
            name="data plane (oggy dataplane)",
            json_url=f"{url}/v1/chat/completions",
            sse_url=f"{url}/v1/chat/completions",
            key=tenant.key_text,
            child=dp,
            slug="dataplane",
            start_rss_kib=dp.rss_kib(),
            tally=Tally(),
        )
        return target, admin, tenant

    def check_usage(
        self, admin: oggy_stack.Admin, tenant: oggy_stack.Tenant, tally: Tally
    ) -> list[str]:
        completed = sum(tally.completed.values())
        log(f"waiting for usage to settle (wrk completed {completed:,} requests)")
        usage = admin.settled_usage(tenant.workspace, completed)
        lines, all_ok = [], True
        for model in (oggy_stack.JSON_MODEL, oggy_stack.SSE_MODEL):
            got = usage.get(model)
            low, high = tally.completed[model], tally.completed[model] + tally.in_flight[model]
            n = got.requests if got else 0
            ok = low <= n <= high
            all_ok &= ok
            lines.append(
                f"`{model}`: usage events {n:,} (errors {got.errors if got else 0:,}); wrk "
                f"completed {low:,}, up to {tally.in_flight[model]:,} more in flight at "
                f"cut-off -> {'OK' if ok else 'MISMATCH'} (expected {low:,}..{high:,})"
            )
            if got and n:
                lines.append(
                    f"`{model}`: tokens prompt {got.prompt_tokens:,} / completion "
                    f"{got.completion_tokens:,} (mock usage per request: "
                    f"{mock_nginx.PROMPT_TOKENS} / {len(mock_nginx.REPLY_WORDS)})"
                )
        others = sorted(set(usage) - {oggy_stack.JSON_MODEL, oggy_stack.SSE_MODEL})
        if others:
            lines.append(f"unexpected models in usage: {others}")
        events = admin.recent_events(tenant.workspace)
        ok_events = [e for e in events if not e.error_type]
        exact = sum(
            1
            for e in ok_events
            if e.token_source == "provider"
            and e.prompt_tokens == mock_nginx.PROMPT_TOKENS
            and e.completion_tokens == len(mock_nginx.REPLY_WORDS)
        )
        errors = collections.Counter(e.error_type for e in events if e.error_type)
        lines.append(
            f"newest {len(events)} events: {exact} of {len(ok_events)} successful ones carry "
            f"the provider's token counts exactly; errors among them: {dict(errors) or 'none'} "
            "(client_disconnected = wrk cut off in-flight requests at the end of a run)"
        )
        lines.insert(0, f"usage count vs wrk: {'OK' if all_ok else 'MISMATCH'}")
        return lines


def mock_only(runner: Runner, mock: mock_nginx.Mock) -> tuple[wrk_load.Result, wrk_load.Result]:
    """The mock alone (nothing on CPU 0, so any CPU 0 use is other work)."""
    log(f"mock alone: nginx on CPU {LOAD_CPU}")
    results = []
    for url, body in (
        (f"{mock.json_base_url}/chat/completions", JSON_BODY),
        (f"{mock.sse_base_url}/chat/completions", SSE_BODY),
    ):
        request = wrk_load.Request(url, body, "mock")
        results.append(runner.undisturbed(lambda r=request: runner.load(r, 64, runner.seconds)))
    return results[0], results[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs instead of 10 s")
    parser.add_argument("--seconds", type=float, help="override the run length")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--skip-dataplane", action="store_true", help="mock and floor only")
    parser.add_argument("--profile", action="store_true", help="py-spy both SUTs under load")
    parser.add_argument("--profile-seconds", type=int, default=10)
    parser.add_argument("--profile-dir", default=str(HERE / "profile"))
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs)")
    return parser.parse_args(argv)


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(args: argparse.Namespace, runner: Runner) -> report.Bench:
    quiet, worst = cpustat.wait_quiet(QUIET, QUIET_WAIT_S)
    start_note = f"before starting, the busiest CPU was {worst:.0%} busy" + (
        "" if quiet else f" after waiting {QUIET_WAIT_S:.0f} s for quiet: expect noise"
    )
    log(start_note)
    mock = mock_nginx.start(
        runner.tmp / "nginx", cpu=LOAD_CPU, log_dir=runner.tmp, children=runner.children
    )
    load_before = _loadavg()
    mock_json, mock_sse = mock_only(runner, mock)
    targets = [runner.start_floor(mock)]
    missing = "--skip-dataplane given" if args.skip_dataplane else oggy_stack.dataplane_missing()
    admin = tenant = None
    if missing:
        log(f"SKIPPING the data plane: {missing}")
    else:
        dp_target, admin, tenant = runner.start_dataplane(mock)
        targets.append(dp_target)
    try:
        for target in targets:
            runner.warm_up(target)
        results = runner.measure(targets)
        bench = report.Bench(
            command=shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
            seconds=runner.seconds,
            rounds=runner.rounds,
            mock_json=mock_json,
            mock_sse=mock_sse,
            floor=results[0],
            dataplane=results[1] if len(results) > 1 else None,
            dataplane_skipped=missing,
        )
        if args.profile:
            log("profiling under load")
            bench.profile_md = runner.profile(targets, results)
        if admin is not None and tenant is not None:
            dp_target = targets[1]
            assert dp_target.tally is not None
            bench.usage_lines = runner.check_usage(admin, tenant, dp_target.tally)
    finally:
        if admin is not None:
            admin.close()
    bench.notes.append(start_note)
    bench.notes.append(
        f"load average (1/5/15 min) before the runs: {load_before}; after: {_loadavg()} "
        "(the VM is shared with other work; rounds are interleaved to spread drift)"
    )
    bench.notes.append(
        f"measured runs redone because other work took > {report.DISTURBED:.0%} of CPU 0: "
        f"{runner.redone}"
    )
    return bench


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not {SUT_CPU, LOAD_CPU} <= os.sched_getaffinity(0):
        log(f"need CPUs {SUT_CPU} (SUT) and {LOAD_CPU} (load)")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="oggy-bench-"))
    children = procs.Children()
    runner = Runner(args, tmp, children)
    try:
        bench = run(args, runner)
    except (procs.BenchError, RuntimeError) as exc:
        log(f"FAILED: {exc}")
        log(f"logs kept in {tmp}")
        args.keep = True
        return 1
    finally:
        children.stop_all()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    output = Path(args.output)
    kept = report.kept_analysis(output.read_text()) if output.exists() else ""
    text = report.render(bench, report.machine())
    output.write_text(text + ("\n" + kept if kept else ""))
    print(report.table(bench))
    for line in [*report.verdicts(bench), *report.mock_check(bench), *bench.usage_lines]:
        print(f"- {line}")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
