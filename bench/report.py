"""Machine description and the RESULTS.md rendering. Pure formatting, no measuring."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from wrk_load import Result

RPS_TARGET = 0.60  # data plane rps >= 60% of the floor's
SCALE_RPS_TARGET = 0.50  # signed actor at scale: rps >= 50% of the floor's
ADDED_P50_TARGET_MS = 1.0  # data plane p50 - floor p50 at c1 <= 1 ms
MOCK_HEADROOM = 5.0  # the mock alone must serve >= 5x the floor
DISTURBED = 0.25  # CPU 0 time not charged to the SUT during a c64 run
LOAD_CAPPED = 0.95  # CPU 1 busy during a c64 run: the load side may be the limit


KINDS = ("rps_json", "rps_sse", "lat_json", "lat_sse")


@dataclass
class SutRun:
    """Everything measured for one system under test: every round of every kind of run."""

    name: str
    runs: dict[str, list[Result]] = field(default_factory=lambda: {k: [] for k in KINDS})
    peak_rss_kib: int = 0
    start_rss_kib: int = 0  # VmRSS once ready, before any load

    def rps(self, kind: str) -> float:
        return statistics.median(r.rps for r in self.runs[kind])

    def p50_us(self, kind: str) -> float:
        return statistics.median(r.p50_us for r in self.runs[kind])

    def p99_us(self, kind: str) -> float:
        return statistics.median(r.p99_us for r in self.runs[kind])

    def cpu_us_per_request(self, kind: str) -> float:
        """Median over rounds of the SUT's CPU time per request served."""
        return statistics.median(
            r.cpu.sut / r.rps * 1e6 for r in self.runs[kind] if r.cpu is not None and r.rps
        )

    def spread(self, kind: str) -> str:
        """min..max of the headline figure over the rounds."""
        if kind.startswith("rps"):
            values = [r.rps for r in self.runs[kind]]
            return f"{min(values):,.0f}..{max(values):,.0f}"
        values = [r.p50_us / 1000 for r in self.runs[kind]]
        return f"{min(values):.2f}..{max(values):.2f} ms"

    @property
    def errors(self) -> int:
        return sum(r.errors for runs in self.runs.values() for r in runs)


@dataclass
class ScaleVariant:
    """One way of sending actor tokens in the signed-actor-at-scale scenario."""

    label: str
    detail: str
    runs: list[Result] = field(default_factory=list)


@dataclass
class ActorScale:
    """Issue 3: a data plane holding a large snapshot, an actor token on every request."""

    keys: int = 0
    actors: int = 0
    teams: int = 0
    signing_keys: str = ""
    policies: str = ""
    seed_txns: int = 0
    seed_writes: int = 0
    seed_seconds: float = 0.0
    cp_start_s: float | None = None  # --seed-offline: control plane restarted -> serving
    publisher_s: float = 0.0  # first seeded write -> the published snapshot had them all
    snapshot_bytes: int = 0
    snapshot_revision: int = 0
    snapshot_counts: str = ""
    snapshot_fetch_s: float = 0.0  # config stream opened -> full snapshot received
    ready_s: float = 0.0  # data plane process started -> /readyz 200
    baseline_ready_s: float | None = None  # same, for the small-snapshot data plane
    start_rss_kib: int = 0
    peak_rss_kib: int = 0
    floor_runs: list[Result] = field(default_factory=list)
    variants: list[ScaleVariant] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class Ingest:
    """Issue 4: usage events/s through the real UsageIngestServicer (bench/ingest.py)."""

    command: str = ""
    results: list[dict] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    skipped: str | None = None


@dataclass
class Bench:
    command: str
    seconds: float
    rounds: int
    mock_json: Result | None
    mock_sse: Result | None
    floor: SutRun
    dataplane: SutRun | None = None
    dataplane_skipped: str | None = None
    usage_lines: list[str] = field(default_factory=list)
    profile_md: str = ""
    notes: list[str] = field(default_factory=list)
    passthrough: bool = True  # False: --sections left the pass-through comparison out
    actor_scale: ActorScale | None = None
    ingest: Ingest | None = None
    # Section "quota": the data plane with limits on, and its rendered lines.
    quota: SutRun | None = None
    quota_lines: list[str] = field(default_factory=list)


def _version(cmd: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    meminfo = Path("/proc/meminfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mhz = re.search(r"^cpu MHz\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    return {
        "CPU": (model.group(1).strip() if model else "?")
        + (f" @ {float(mhz.group(1)):.0f} MHz" if mhz else ""),
        "Cores": f"{os.cpu_count()} logical (affinity {sorted(os.sched_getaffinity(0))})",
        "RAM": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
        "Kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "aiohttp": metadata.version("aiohttp"),
        "uvloop": metadata.version("uvloop"),
        "grpcio": metadata.version("grpcio"),
        "nginx": _version(["/usr/sbin/nginx", "-v"], r"nginx/(\S+)"),
        "wrk": _version(["/usr/bin/wrk", "-v"], r"wrk (\S+)"),
        "etcd": _version(["/usr/bin/etcd", "--version"], r"etcd Version: (\S+)"),
        "Date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _ms(us: float) -> str:
    return f"{us / 1000:.2f} ms"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def table(bench: Bench) -> str:
    rows = [
        "| SUT | rps c64 non-stream | rps c64 stream | p50 c1 | p99 c1 | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in (bench.floor, bench.dataplane):
        if run is None:
            continue
        rows.append(
            f"| {run.name} | {run.rps('rps_json'):,.0f} | {run.rps('rps_sse'):,.0f} | "
            f"{_ms(run.p50_us('lat_json'))} | {_ms(run.p99_us('lat_json'))} | "
            f"{_mib(run.peak_rss_kib)} |"
        )
    if bench.dataplane is None:
        rows.append("| data plane | skipped | skipped | - | - | - |")
    return "\n".join(rows) + "\n"


def paired_ratios(floor: list[Result], dataplane: list[Result]) -> list[float]:
    """Data plane rps / floor rps for each round: each pair ran back to back."""
    return [d.rps / f.rps for f, d in zip(floor, dataplane, strict=True) if f.rps]


def verdicts(bench: Bench) -> list[str]:
    dp, floor = bench.dataplane, bench.floor
    if dp is None:
        return [f"Data plane not measured: {bench.dataplane_skipped}"]
    out = []
    for label, kind in (("non-stream", "rps_json"), ("stream", "rps_sse")):
        ours, base = dp.rps(kind), floor.rps(kind)
        paired = paired_ratios(floor.runs[kind], dp.runs[kind])
        ratio = statistics.median(paired)
        ok = "PASS" if ratio >= RPS_TARGET else "FAIL"
        out.append(
            f"rps c64 {label}: data plane / floor = **{ratio:.0%}** (median of per-round "
            f"ratios {', '.join(f'{x:.0%}' for x in paired)}; medians {ours:,.0f} / "
            f"{base:,.0f}) (target >= {RPS_TARGET:.0%}) - {ok}"
        )
    for label, kind in (("non-stream", "lat_json"), ("stream", "lat_sse")):
        ours, base = dp.p50_us(kind), floor.p50_us(kind)
        added = (ours - base) / 1000
        target = kind == "lat_json"
        ok = ("PASS" if added <= ADDED_P50_TARGET_MS else "FAIL") if target else "info only"
        out.append(
            f"added p50 latency c1 {label}: {_ms(ours)} - {_ms(base)} = **{added:.2f} ms**"
            + (f" (target <= {ADDED_P50_TARGET_MS:.0f} ms)" if target else "")
            + f" - {ok}"
        )
    out.append(
        f"RSS data plane: {_mib(dp.start_rss_kib)} when ready, peak {_mib(dp.peak_rss_kib)} "
        f"(floor: {_mib(floor.start_rss_kib)}, peak {_mib(floor.peak_rss_kib)})"
    )
    out.append(
        "CPU per request at c64 (SUT CPU time / requests): data plane "
        f"{dp.cpu_us_per_request('rps_json'):.0f} µs non-stream, "
        f"{dp.cpu_us_per_request('rps_sse'):.0f} µs stream; floor "
        f"{floor.cpu_us_per_request('rps_json'):.0f} µs, "
        f"{floor.cpu_us_per_request('rps_sse'):.0f} µs"
    )
    if dp.errors or floor.errors:
        out.append(f"**errors during load**: floor {floor.errors}, data plane {dp.errors}")
    return out


def interference(bench: Bench) -> list[str]:
    """Warnings for c64 runs that did not have CPU 0 to themselves."""
    out = []
    for run in (bench.floor, bench.dataplane):
        if run is None:
            continue
        for kind in ("rps_json", "rps_sse"):
            for i, r in enumerate(run.runs[kind], 1):
                if r.cpu and (r.cpu.cpu0_other > DISTURBED or r.cpu.cpu1_busy > LOAD_CAPPED):
                    out.append(
                        f"**disturbed**: {run.name} {kind} round {i}: cpu0 other "
                        f"{r.cpu.cpu0_other:.0%}, cpu1 busy {r.cpu.cpu1_busy:.0%}"
                    )
    return out


def mock_check(bench: Bench) -> list[str]:
    out = []
    for label, mock, kind in (
        ("non-stream", bench.mock_json, "rps_json"),
        ("stream", bench.mock_sse, "rps_sse"),
    ):
        if mock is None or not bench.floor.runs[kind]:
            continue
        floor = bench.floor.rps(kind)
        ratio = mock.rps / floor if floor else 0.0
        line = f"mock alone {label}: {mock.rps:,.0f} rps = {ratio:.1f}x the floor"
        if ratio < MOCK_HEADROOM:
            line = f"**WARNING** {line} (< {MOCK_HEADROOM:.0f}x: the mock may cap the results)"
        out.append(line)
    return out


def _details(bench: Bench) -> str:
    rows = [
        "| SUT | run | round | conns | requests | rps | p50 | p90 | p99 | max | errors "
        "| SUT cpu | cpu0 other | cpu1 busy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def add(name: str, label: str, i: int, r: Result) -> None:
        c = r.cpu
        cpu = f"{c.sut:.0%} | {c.cpu0_other:.0%} | {c.cpu1_busy:.0%}" if c else "- | - | -"
        rows.append(
            f"| {name} | {label} | {i} | {r.connections} | {r.requests:,} | {r.rps:,.0f} | "
            f"{_ms(r.p50_us)} | {_ms(r.p90_us)} | {_ms(r.p99_us)} | {_ms(r.max_us)} | "
            f"{r.errors} | {cpu} |"
        )

    if bench.mock_json is not None and bench.mock_sse is not None:
        add("mock (nginx)", "non-stream", 1, bench.mock_json)
        add("mock (nginx)", "stream", 1, bench.mock_sse)
    labels = {"rps_json": "non-stream", "rps_sse": "stream"}
    labels |= {"lat_json": "non-stream", "lat_sse": "stream"}
    for run in (bench.floor, bench.dataplane):
        if run is None:
            continue
        for kind in KINDS:
            for i, r in enumerate(run.runs[kind], 1):
                add(run.name, labels[kind], i, r)
    spread = [
        "",
        "SUT cpu = the SUT process's CPU time / wall time (1 CPU = 100%); cpu0 other = the "
        "rest of CPU 0's busy time (loopback softirqs, other processes); cpu1 busy = the "
        "load side (wrk, nginx, control plane, etcd). A c64 run is clean when SUT cpu is "
        "near 100% and cpu0 other is small; cpu1 near 100% would mean the load side caps it.",
        "",
        "Spread over rounds (min..max; the tables above use the median):",
        "",
    ]
    for run in (bench.floor, bench.dataplane):
        if run is not None:
            spread.append(
                f"- {run.name}: rps non-stream {run.spread('rps_json')}, stream "
                f"{run.spread('rps_sse')}; p50 c1 non-stream {run.spread('lat_json')}, "
                f"stream {run.spread('lat_sse')}"
            )
    return "\n".join(rows + spread) + "\n"


# -- signed actor at scale --------------------------------------------------------------


def _median_rps(runs: list[Result]) -> float:
    return statistics.median(r.rps for r in runs) if runs else 0.0


def scale_table(scale: ActorScale) -> str:
    rows = [
        "| SUT / actor tokens | rps c64 non-stream | ratio to floor (per-round median) | "
        "p50 c64 | p99 c64 | SUT CPU µs/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def cpu_us(runs: list[Result]) -> str:
        values = [r.cpu.sut / r.rps * 1e6 for r in runs if r.cpu is not None and r.rps]
        return f"{statistics.median(values):.0f}" if values else "-"

    def row(name: str, runs: list[Result], ratio: str) -> None:
        rows.append(
            f"| {name} | {_median_rps(runs):,.0f} | {ratio} | "
            f"{_ms(statistics.median(r.p50_us for r in runs))} | "
            f"{_ms(statistics.median(r.p99_us for r in runs))} | {cpu_us(runs)} | "
            f"{sum(r.errors for r in runs)} |"
        )

    row("floor (aiohttp pass-through)", scale.floor_runs, "100%")
    for v in scale.variants:
        paired = paired_ratios(scale.floor_runs, v.runs)
        row(f"data plane, {v.label}", v.runs, f"{statistics.median(paired):.0%}")
    return "\n".join(rows) + "\n"


def scale_verdicts(scale: ActorScale) -> list[str]:
    out = []
    for v in scale.variants:
        paired = paired_ratios(scale.floor_runs, v.runs)
        ratio = statistics.median(paired)
        ok = "PASS" if ratio >= SCALE_RPS_TARGET else "FAIL"
        out.append(
            f"{v.label}: data plane / floor = **{ratio:.0%}** (per round "
            f"{', '.join(f'{x:.0%}' for x in paired)}; medians {_median_rps(v.runs):,.0f} / "
            f"{_median_rps(scale.floor_runs):,.0f}) (target >= {SCALE_RPS_TARGET:.0%}) - {ok}"
        )
        if any(r.errors for r in v.runs):
            out.append(f"**errors during load** ({v.label}): {sum(r.errors for r in v.runs)}")
    named = [("floor", scale.floor_runs), *((v.label, v.runs) for v in scale.variants)]
    for label, runs in named:
        for i, r in enumerate(runs, 1):
            if r.cpu and (r.cpu.cpu0_other > DISTURBED or r.cpu.cpu1_busy > LOAD_CAPPED):
                out.append(
                    f"**disturbed**: {label} round {i}: cpu0 other {r.cpu.cpu0_other:.0%}, "
                    f"cpu1 busy {r.cpu.cpu1_busy:.0%}"
                )
    return out


def scale_section(scale: ActorScale, seconds: float, rounds: int) -> list[str]:
    parts = [SCALE_HEADER, ""]
    if scale.skipped:
        return [*parts, f"Not measured: {scale.skipped}", ""]
    baseline = (
        f" (the pass-through section's data plane, with a one-key snapshot: "
        f"{scale.baseline_ready_s:.2f} s)"
        if scale.baseline_ready_s is not None
        else ""
    )
    parts += [
        "Method:",
        "",
        f"- A second workspace `workspaces/scale` on the same etcd and control plane holds "
        f"{scale.keys:,} gateway keys and {scale.actors:,} actors ({scale.teams} teams, the "
        "rest users in one team each; every other key is bound to a user, the others are "
        "workspace keys). Keys and actors are written straight into etcd by the bench "
        "(`bench/actor_scale.py`: the stored values are built with the control plane's own "
        "`controlplane.api.convert` helpers — KeyMaterial at `workspaces/{w}/keys/{k}` plus "
        "the `index/keys/{k}` entry, Actor at `workspaces/{w}/actors/{a}`), "
        f"{scale.seed_writes:,} puts in {scale.seed_txns:,} transactions of <= 128 ops, "
        f"in {scale.seed_seconds:.1f} s, "
        + (
            "with the control plane stopped (etcd up); it was then started again on the same "
            f"etcd and state dir and served after {scale.cp_start_s:.2f} s. (The control "
            "plane's etcd client accepts responses up to 512 MiB: at this size the "
            "`workspaces/` range read at start-up or resync is ~21 MB, beyond gRPC's "
            "default 4 MiB; found by this benchmark and fixed in "
            "`controlplane/store/etcd.py`.) "
            if scale.cp_start_s is not None
            else "while the control plane runs: its publisher takes them in from its etcd "
            "watch as ~1 delta per transaction and had published them all "
            f"**{scale.publisher_s:.0f} s** after the first write (it rebuilds and checks the "
            "whole snapshot for every etcd revision, so a bulk import costs it O(n^2)). "
        )
        + "Provider credentials, the "
        f"signing keys ({scale.signing_keys}) and the policies ({scale.policies}) go "
        "through the admin API.",
        "- The workspace policy sets `require_actor_token`, so a request without a valid "
        "token is refused (checked below). Every request carries `X-Oggy-Actor: <JWT>` "
        "(EdDSA, minted with `oggy.actor_token.mint_actor_token`, `aud` = the workspace, "
        f"`sub` = a user of the workspace, 24 h expiry) and one of the {scale.keys:,} keys, a "
        "workspace key, so the token is the identity and the actor's team policy is merged in.",
        "- The pass-through section's data plane (if it ran) is stopped first; a fresh "
        "`oggy dataplane` "
        "(pinned to CPU 0 like every SUT) then receives the whole workspace as its first "
        "snapshot. Time to ready = process start to `/readyz` answering 200 (Python start-up "
        "and imports included)" + baseline + ".",
        "- Snapshot size = the serialized `Snapshot` the control plane sends on "
        "`StreamConfig`, read by the bench acting as a node once the publisher had every "
        "seeded write (the same message the data plane receives).",
        "- Load: wrk at 64 connections, non-streaming `bench-model`, "
        f"{seconds:g} s per run, {rounds} interleaved round(s) of the floor and each token "
        "variant below (ABBA order; the floor is the pass-through section's process, "
        "measured again in these rounds); ratios are the median of per-round data plane / "
        "floor ratios. Target: >= 50% of the floor.",
        "",
        "Token variants:",
        "",
        *[f"- **{v.label}**: {v.detail}" for v in scale.variants],
        "",
        "Results:",
        "",
        f"- snapshot: **{scale.snapshot_bytes / 1024 / 1024:.1f} MiB** serialized "
        f"(revision {scale.snapshot_revision}: {scale.snapshot_counts}); the config stream "
        f"delivered it {scale.snapshot_fetch_s:.2f} s after opening",
        f"- data plane time to ready: **{scale.ready_s:.2f} s**{baseline}",
        f"- data plane RSS: {_mib(scale.start_rss_kib)} when ready, peak "
        f"{_mib(scale.peak_rss_kib)}",
        "",
        scale_table(scale),
        *[f"- {line}" for line in scale_verdicts(scale)],
        *[f"- {line}" for line in scale.checks],
        "",
    ]
    return parts


# -- usage ingest -------------------------------------------------------------------------


def ingest_section(ingest: Ingest) -> list[str]:
    parts = [INGEST_HEADER, ""]
    if ingest.skipped:
        return [*parts, f"Not measured: {ingest.skipped}", ""]
    m = ingest.machine
    parts += [
        f"Generated by `{ingest.command}` (run by bench/run.py). The control plane's real "
        "`UsageIngestServicer` serves `UsageService.ReportUsage` over gRPC on loopback in "
        "one process; a client child process (like a data plane's reporter) streams "
        "`ReportUsageRequest` batches with up to `window` unacknowledged batches in flight. "
        "Every ack says `stored` only after the store committed the batch, so events/s = "
        "events / (first write -> last ack) is a committed rate. Fresh store per run: a new "
        "SQLite file (WAL, synchronous=FULL) or a new PostgreSQL schema. Events carry every "
        "UsageEvent field; 10% carry prompt text (stored in the same transaction). Not "
        "pinned: server and client share both CPUs, with nothing else of the bench running.",
        "",
        "| store | batch size (events) | window (batches) | events | events/s "
        "| ack p50 | ack p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ingest.results:
        parts.append(
            f"| {r['store']} | {r['batch']} | {r['window']} | {r['events']:,} | "
            f"**{r['events_per_s']:,}** | {r['ack_p50_ms']:.1f} ms | {r['ack_p99_ms']:.1f} ms |"
        )
    versions = ", ".join(
        f"{k} {v}" for k, v in (("SQLite", m.get("sqlite")), ("PostgreSQL", m.get("postgresql")))
    )
    parts += [
        "",
        f"- versions: {versions}; load average (1 min) at the end: {m.get('loadavg_1m', '?')}",
        "",
    ]
    return parts


ANALYSIS_MARKER = "<!-- hand-written analysis below: bench/run.py keeps it across runs -->"


def kept_analysis(previous: str) -> str:
    """The hand-written part of an existing RESULTS.md (from the marker on), or ''."""
    i = previous.find(ANALYSIS_MARKER)
    return previous[i:] if i >= 0 else ""


def _passthrough(bench: Bench) -> list[str]:
    secs = f"{bench.seconds:g} s"
    return [
        "### Method",
        "",
        "Everything on loopback. Two logical CPUs are used: the system under test (SUT) is "
        "pinned to CPU 0 with `taskset -c 0`; the mock provider (nginx), the load generator "
        "(wrk) and — for the data plane run — etcd and the control plane are pinned to CPU 1. "
        "The control plane ingests usage events (metering is ON) while the data plane is "
        "loaded, so it competes with nginx and wrk for CPU 1, not with the SUT.",
        "",
        "- Mock provider: nginx (1 worker, access_log off) answering canned `return 200` "
        "bodies: `/v1/chat/completions` a non-streaming `chat.completion` with `usage` "
        "(~0.6 KiB); `/s/v1/chat/completions` a `text/event-stream` of a role chunk, "
        "20 content chunks, a finish chunk, a usage chunk and `data: [DONE]` (~6.3 KiB). "
        "Streaming is selected by the provider base URL (`<mock>/v1` vs `<mock>/s/v1`), "
        "since nginx cannot branch on the body.",
        "- FLOOR (`bench/passthrough.py`): an aiohttp server with one shared "
        "`aiohttp.ClientSession` that forwards the POST body to the same path on the mock and "
        "streams the response back chunk by chunk; uvloop; no parsing, auth or metering.",
        "- Data plane: `oggy dataplane` fed by a real `oggy controlplane` on a real etcd; one "
        "workspace, two openai-compatible provider credentials (`bench-model` -> `<mock>/v1`, "
        "`bench-model-stream` -> `<mock>/s/v1`) and one gateway key, created via the gRPC "
        "admin API.",
        "- Load: wrk with a Lua script POSTing a small chat request with "
        "`Authorization: Bearer <gateway key>`. Per SUT: 1 s warm-up, then requests/s at "
        f"64 connections for {secs} (non-stream, then stream) and latency at 1 connection "
        f"(`-c1 -t1 --latency`) for {secs} each. Both SUTs run side by side (the idle one "
        f"costs nothing) and are measured in {bench.rounds} interleaved round(s) (ABBA order) "
        "so that drift in the shared VM hits both alike; figures are medians over the rounds. "
        "Latency percentiles come from wrk's histogram (µs resolution). Peak RSS is VmHWM "
        "from `/proc/<pid>/status` after all runs.",
        "- Targets: data plane rps >= 60% of the floor's; added p50 latency "
        "(data plane p50 minus floor p50 at c1, non-stream) <= 1 ms.",
        "",
        "### Results",
        "",
        table(bench),
        *[f"- {line}" for line in verdicts(bench)],
        "- Streaming throughput with accounting ON (issue 4) is the `rps c64 stream` figure "
        "above: metering is always on in these runs — the data plane asks the upstream for "
        "usage on every stream (`stream_options.include_usage`), takes the tokens from the "
        "SSE, emits one usage event per request, and the control plane ingests them into its "
        "SQLite usage store during the run (the usage check below confirms one event per "
        "request). There is no accounting-off data plane run to compare with.",
        *[f"- {line}" for line in mock_check(bench)],
        *[f"- {line}" for line in interference(bench)],
        "",
        "### All runs",
        "",
        "(p50/p90/p99 at 64 connections include queueing; errors = socket errors, timeouts "
        "and HTTP >= 400, all of which must be 0.)",
        "",
        _details(bench),
    ]


PASSTHROUGH_HEADER = "## Pass-through vs data plane"
PROFILE_HEADER = "## Profile of the data plane under load"
SCALE_HEADER = "## Signed actor at scale (issue 3)"
INGEST_HEADER = "## Usage ingest (issue 4)"
QUOTA_HEADER = "## Budgets and rate limits (issue 11)"
KEPT_NOTE = "_Kept from the previous RESULTS.md"


def kept_section(previous: str, header: str) -> list[str]:
    """A section of an earlier RESULTS.md (header to the next `## `), marked as kept."""
    start = previous.find(f"\n{header}\n")
    if start < 0:
        return [header, "", "Not run yet (see `bench/run.py --help`).", ""]
    body = previous[start + len(header) + 2 :]
    end = min(
        (i for i in (body.find("\n## "), body.find(ANALYSIS_MARKER)) if i >= 0),
        default=len(body),
    )
    lines = body[:end].strip("\n").splitlines()
    if "Not run" in "".join(lines[:1]) or "Not run" in "".join(lines[1:2]):
        return [header, "", *lines, ""]
    if not any(line.startswith(KEPT_NOTE) for line in lines[:1]):
        made = re.search(r"Generated by `([^`]+)`", previous)
        by = f" (generated by `{made.group(1)}`)" if made else ""
        lines = [f"{KEPT_NOTE}{by}; not run this time._", "", *lines]
    return [header, "", *lines, ""]


def render(bench: Bench, info: dict[str, str], previous: str = "") -> str:
    parts = [
        "# Oggy data plane benchmark",
        "",
        f"Generated by `{bench.command}` (do not edit by hand; re-run it).",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Sections",
        "",
        "1. Pass-through vs data plane (issue 2; its stream run is issue 4's streaming "
        "throughput with accounting ON)",
        "2. Signed actor at scale (issue 3)",
        "3. Usage ingest (issue 4)",
        "4. Budgets and rate limits (issue 11): the data plane with limits on",
        "",
        "A section not run by this invocation (`--sections`) is kept from the previous "
        "RESULTS.md and marked as kept; the Machine and Notes above/below describe this "
        "invocation.",
        "",
    ]
    if bench.passthrough:
        parts += [PASSTHROUGH_HEADER, "", *_passthrough(bench)]
    else:
        parts += kept_section(previous, PASSTHROUGH_HEADER)
    if bench.passthrough and bench.usage_lines:
        parts += ["### Usage metering check", "", *[f"- {x}" for x in bench.usage_lines], ""]
    if bench.quota_lines:
        parts += [QUOTA_HEADER, "", *bench.quota_lines, ""]
    else:
        parts += kept_section(previous, QUOTA_HEADER)
    if bench.actor_scale is not None:
        parts += scale_section(bench.actor_scale, bench.seconds, bench.rounds)
    else:
        parts += kept_section(previous, SCALE_HEADER)
    if bench.ingest is not None:
        parts += ingest_section(bench.ingest)
    else:
        parts += kept_section(previous, INGEST_HEADER)
    if bench.notes:
        parts += ["## Notes", "", *[f"- {x}" for x in bench.notes], ""]
    if bench.profile_md:
        parts += [PROFILE_HEADER, "", bench.profile_md]
    elif not bench.passthrough and f"\n{PROFILE_HEADER}\n" in previous:
        parts += kept_section(previous, PROFILE_HEADER)
    return "\n".join(parts).rstrip() + "\n"
