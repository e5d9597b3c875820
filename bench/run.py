"""Oggy benchmark: the data plane against a raw aiohttp pass-through floor, on loopback.

    .venv/bin/python bench/run.py [--quick] [--profile] [--skip-dataplane]
                                  [--skip-actor-scale] [--skip-ingest]
                                  [--sections passthrough,quota,actor-scale,ingest]

Starts nginx as the mock provider, measures it alone, then the floor (bench/passthrough.py)
and — when it exists — the real data plane behind a real control plane and etcd, with wrk
(section "passthrough"). Then, on the same etcd and control plane, a data plane whose
snapshot holds 100k gateway keys and 10k actors, every request carrying a signed actor
token (section "actor-scale", bench/actor_scale.py), and finally the usage ingest rates
(section "ingest", bench/ingest.py). Section "quota" (bench/quota_bench.py) adds, to the
pass-through runs, the same data plane serving a workspace where a rate limit, a token
limit and a hard budget apply to every request. All by default (~11 min); a section left out
keeps its text from the previous RESULTS.md, marked as kept. Writes bench/RESULTS.md
and prints the summaries. See report.py for the method text.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shlex
import shutil
import subprocess
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

import actor_scale
import cpustat
import grpc
import hotspots
import mock_nginx
import oggy_stack
import procs
import quota_bench
import report
import wrk_load

from oggy.v1 import admin_service_pb2, key_pb2

SUT_CPU = 0
LOAD_CPU = 1  # nginx, wrk, etcd, control plane, py-spy
HERE = Path(__file__).resolve().parent
WARMUP_SECONDS = 1
PROFILE_RATE = 200
RETRIES = 2  # redo a measured run disturbed by other work at most this often
QUIET = 0.15  # a CPU this busy (or less) with nothing of ours running counts as quiet
QUIET_WAIT_S = 60.0
SECTIONS = ("passthrough", "quota", "actor-scale", "ingest")
# Full default run with --profile: ~6 min passthrough + ~3 min actor-scale + ~1 min ingest.
DEFAULT_SECTIONS = SECTIONS


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
        # The etcd + control plane stack, shared by the data planes of every section.
        self.admin: oggy_stack.Admin | None = None
        self.etcd_url = self.cp_addr = self.node_token = ""
        self.cp_child: procs.Child | None = None
        self.dp_ready_s: float | None = None

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

    def start_stack(self) -> oggy_stack.Admin:
        """etcd and `oggy controlplane` (once), and an admin API client."""
        if self.admin is None:
            log("stack: etcd + oggy controlplane")
            where = {"cpu": LOAD_CPU, "log_dir": self.tmp, "children": self.children}
            _, self.etcd_url = oggy_stack.start_etcd(self.tmp / "etcd", **where)
            self._start_controlplane()
        assert self.admin is not None
        return self.admin

    def _start_controlplane(self, name: str = "controlplane") -> None:
        state = self.tmp / "state"
        self.cp_child, self.cp_addr = oggy_stack.start_controlplane(
            self.etcd_url,
            state,
            cpu=LOAD_CPU,
            log_dir=self.tmp,
            children=self.children,
            name=name,
            ready_timeout=120,
        )
        self.node_token = (state / "node_token").read_text().strip()
        self.admin = oggy_stack.Admin(self.cp_addr, (state / "admin_token").read_text().strip())

    def stop_controlplane(self) -> None:
        """Stop the control plane (etcd stays up); restart_controlplane() brings it back."""
        assert self.cp_child is not None and self.admin is not None
        self.admin.close()
        self.cp_child.stop()

    def restart_controlplane(self) -> float:
        """A new control plane on the same etcd and state dir; seconds until it serves."""
        started = time.perf_counter()
        self._start_controlplane("controlplane-2")
        return time.perf_counter() - started

    def launch_dataplane(
        self, name: str, ready_timeout: float = 30.0
    ) -> tuple[procs.Child, str, float]:
        """A data plane on CPU 0; (child, url, seconds from start to /readyz 200)."""
        started = time.perf_counter()
        child, url = oggy_stack.start_dataplane(
            self.cp_addr,
            self.node_token,
            self.tmp / f"spool-{name}",
            cpu=SUT_CPU,
            log_dir=self.tmp,
            children=self.children,
            ready_timeout=ready_timeout,
            name=name,
        )
        return child, url, time.perf_counter() - started

    def start_dataplane(
        self, mock: mock_nginx.Mock
    ) -> tuple[Target, oggy_stack.Admin, oggy_stack.Tenant]:
        log("data plane: etcd + oggy controlplane + oggy dataplane")
        admin = self.start_stack()
        tenant = admin.setup(mock.json_base_url, mock.sse_base_url)
        dp, url, self.dp_ready_s = self.launch_dataplane("dataplane")
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


def quota_target(runner: Runner, mock: mock_nginx.Mock, dp: Target) -> Target:
    """The pass-through data plane again, through a key whose workspace has limits."""
    assert runner.admin is not None
    log("quota: a workspace with an RPM limit, a TPM limit and a hard budget")
    key = quota_bench.setup(runner.admin, mock.json_base_url, mock.sse_base_url)
    quota = Target(
        name="data plane, limits on",
        json_url=dp.json_url,
        sse_url=dp.sse_url,
        key=key,
        child=dp.child,
        slug="dataplane-quota",
        start_rss_kib=dp.start_rss_kib,
    )
    _wait_key_served(quota)
    return quota


def _wait_key_served(target: Target, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status, _ = _post(target.json_url, target.key, {})
        if status == 200 or time.monotonic() > deadline:
            return
        time.sleep(0.1)


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


def _post(url: str, key: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(
        url,
        data=JSON_BODY.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}", **headers},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def measure_actor_scale(
    runner: Runner, mock: mock_nginx.Mock, floor: Target, main_dp: Target | None
) -> report.ActorScale:
    """Issue 3: 100k keys + 10k actors in the snapshot, a signed actor token on every request."""
    args = runner.args
    if main_dp is not None:
        log("actor-scale: stopping the pass-through section's data plane")
        main_dp.child.stop()
    admin = runner.start_stack()
    log("actor-scale: workspace, providers, signing keys, policies via the admin API")
    admin.setup(mock.json_base_url, mock.sse_base_url, workspace_id=actor_scale.WORKSPACE_ID)
    signers = actor_scale.create_signing_keys(admin)
    many = actor_scale.rotate_many()
    cp_start_s = None
    if not args.seed_live:
        runner.stop_controlplane()
    log(f"actor-scale: seeding {args.key_count:,} keys + {args.actor_count:,} actors into etcd")
    seed_started = time.perf_counter()
    pop = actor_scale.seed(runner.etcd_url, args.key_count, args.actor_count, n_sample=many)
    log(f"  {pop.writes:,} puts in {pop.txns:,} transactions, {pop.seconds:.1f} s")
    if not args.seed_live:
        cp_start_s = runner.restart_controlplane()
        admin = runner.start_stack()
        log(f"  control plane restarted, serving after {cp_start_s:.2f} s")
    actor_scale.create_policies(admin, args.actor_count)
    revision = actor_scale.current_revision(runner.etcd_url)
    log("  waiting for the control plane's publisher to reflect every write")
    snap = actor_scale.probe_snapshot(runner.cp_addr, runner.node_token, revision, timeout=900)
    published_s = time.perf_counter() - seed_started
    log(
        f"  snapshot {snap.serialized_bytes / 1024 / 1024:.1f} MiB at revision {snap.revision}: "
        f"{snap.keys:,} keys, {snap.actors:,} actors; it reached the bench after "
        f"{snap.caught_up_s:.1f} s"
    )
    dp, url, ready_s = runner.launch_dataplane("dataplane-scale", ready_timeout=300)
    log(f"  data plane ready after {ready_s:.2f} s")
    start_rss = dp.rss_kib()
    now = time.time()
    pairs = pop.sample
    tokens = [actor_scale.mint(signers, actor, now) for _, actor in pairs]
    variants = [
        wrk_load.Variant(k, actor_scale.token_headers(t))
        for (k, _), t in zip(pairs, tokens, strict=True)
    ]
    dp_url = f"{url}/v1/chat/completions"
    memo = actor_scale.verifier_memo_size()
    few = min(actor_scale.ROTATE_FEW, len(variants))
    plan = [
        report.ScaleVariant(
            "same token",
            "every request sends the same key and the same token: the verifier's memo "
            "answers after the first request (an app reusing its token)",
        ),
        report.ScaleVariant(
            f"{few:,} tokens",
            f"wrk cycles through {few:,} (key, token) pairs, {few:,} different keys and "
            f"actors: after the first pass every token is in the verifier's memo "
            f"({memo:,} entries), so this measures lookups spread over the big dicts",
        ),
        report.ScaleVariant(
            f"{len(variants):,} tokens",
            f"wrk cycles through {len(variants):,} (key, token) pairs, more than the "
            f"verifier's memo of {memo:,}: a cyclic scan of an LRU larger than its capacity "
            "misses every time, so **every request verifies an Ed25519 signature**",
        ),
    ]
    requests = [
        wrk_load.Request(dp_url, JSON_BODY, pairs[0][0], variants[0].headers),
        wrk_load.Request(dp_url, JSON_BODY, pairs[0][0], rotate=tuple(variants[:few])),
        wrk_load.Request(dp_url, JSON_BODY, pairs[0][0], rotate=tuple(variants)),
    ]
    checks = []
    status, text = _post(dp_url, pairs[0][0], dict(variants[0].headers))
    if status != 200:
        raise procs.BenchError(f"actor-scale sanity: HTTP {status}: {text[:300]}")
    no_token, _ = _post(dp_url, pairs[0][0], {})
    bad = actor_scale.mint(signers, "workspaces/scale/actors/nobody", now)
    unknown, _ = _post(dp_url, pairs[0][0], {actor_scale.ACTOR_HEADER: bad})
    checks.append(
        f"sanity: key + token -> HTTP {status}; same key without a token -> HTTP {no_token}; "
        f"token naming an unknown actor -> HTTP {unknown} (both must be 401)"
    )
    completed = 1
    in_flight = 0
    log("actor-scale: warm-up")
    for request in requests:
        r = runner.load(request, 64, WARMUP_SECONDS, dp)
        completed += r.requests
        in_flight += r.connections
    runner.load(floor.json(), 64, WARMUP_SECONDS, floor.child)
    floor_runs: list[wrk_load.Result] = []
    order: list[tuple[str, wrk_load.Request, procs.Child, list[wrk_load.Result]]] = [
        ("floor", floor.json(), floor.child, floor_runs),
        *((v.label, r, dp, v.runs) for v, r in zip(plan, requests, strict=True)),
    ]
    for i in range(runner.rounds):
        for label, request, child, runs in order[:: -1 if i % 2 else 1]:
            log(f"actor-scale round {i + 1}/{runner.rounds}: {label}")
            result = runner.undisturbed(
                lambda q=request, c=child: runner.load(q, 64, runner.seconds, c)
            )
            runs.append(result)
            if child is dp:
                completed += result.requests
                in_flight += result.connections
    peak_rss = dp.peak_rss_kib()
    checks += _scale_usage(admin, completed, in_flight, {a for _, a in pairs})
    checks.append(_propagation(admin, dp_url, dict(variants[0].headers)))
    return report.ActorScale(
        keys=args.key_count,
        actors=args.actor_count,
        teams=actor_scale.TEAMS,
        signing_keys="EdDSA `ed`, ES256 `es`, HS256 `hs`",
        policies=(
            "workspace: `require_actor_token`; "
            f"{actor_scale.TEAM_POLICIES} team policies with a model allowlist"
        ),
        seed_txns=pop.txns,
        seed_writes=pop.writes,
        seed_seconds=pop.seconds,
        cp_start_s=cp_start_s,
        publisher_s=published_s,
        snapshot_bytes=snap.serialized_bytes,
        snapshot_revision=snap.revision,
        snapshot_counts=(
            f"{snap.keys:,} keys, {snap.actors:,} actors, {snap.signing_keys} signing keys, "
            f"{snap.policies} policies, across both workspaces"
        ),
        snapshot_fetch_s=snap.first_response_s,
        ready_s=ready_s,
        baseline_ready_s=runner.dp_ready_s,
        start_rss_kib=start_rss,
        peak_rss_kib=peak_rss,
        floor_runs=floor_runs,
        variants=plan,
        checks=checks,
    )


def _propagation(admin: oggy_stack.Admin, url: str, headers: dict[str, str]) -> str:
    """One new key through the admin API: how long until the big data plane accepts it."""
    started = time.perf_counter()
    created = admin.call(
        "CreateGatewayKey",
        admin_service_pb2.CreateGatewayKeyRequest(
            parent=actor_scale.WORKSPACE, gateway_key=key_pb2.GatewayKey(display_name="late")
        ),
    )
    api_s = time.perf_counter() - started
    key = created.key_text  # type: ignore[attr-defined]
    deadline = started + 120
    while time.perf_counter() < deadline:
        status, _ = _post(url, key, headers)
        if status == 200:
            return (
                f"config change at this scale: a key created through the admin API "
                f"(CreateGatewayKey took {api_s * 1000:.0f} ms) was accepted by the data plane "
                f"**{time.perf_counter() - started:.2f} s** after the call began (polled "
                "every 50 ms; the publisher and the data plane each rebuild the whole "
                "snapshot for a delta)"
            )
        time.sleep(0.05)
    return "config change at this scale: a new key was NOT accepted within 120 s"


def _scale_usage(
    admin: oggy_stack.Admin, completed: int, in_flight: int, actors: set[str]
) -> list[str]:
    log(f"actor-scale: waiting for usage to settle (wrk completed {completed:,} requests)")
    usage = admin.settled_usage(actor_scale.WORKSPACE, completed)
    n = sum(u.requests for u in usage.values())
    # + 2 refused sanity requests (no token, unknown actor): blocked requests are metered too
    low, high = completed + 2, completed + 2 + in_flight
    ok = low <= n <= high
    events = admin.recent_events(actor_scale.WORKSPACE)
    good = [e for e in events if not e.error_type]
    attributed = sum(1 for e in good if e.actor in actors and e.team and e.app == "bench")
    errors = collections.Counter(e.error_type for e in events if e.error_type)
    return [
        f"usage events in `workspaces/scale`: {n:,}; wrk completed {completed - 1:,} + 3 "
        f"sanity requests, up to {in_flight:,} more in flight at cut-off -> "
        f"{'OK' if ok else 'MISMATCH'} (expected {low:,}..{high:,})",
        f"newest {len(events)} events: {attributed} of {len(good)} successful ones are "
        "attributed to the token's actor, its team and the token's `app` claim; errors among "
        f"them: {dict(errors) or 'none'}",
    ]


def measure_ingest(runner: Runner) -> report.Ingest:
    """Issue 4: bench/ingest.py (SQLite and PostgreSQL, batches of 500 and 100 events)."""
    events = runner.args.ingest_events or (10_000 if runner.args.quick else 50_000)
    out = runner.tmp / "ingest.json"
    cmd = [sys.executable, str(HERE / "ingest.py"), "--events", str(events), "--out", str(out)]
    shown = shlex.join([".venv/bin/python", "bench/ingest.py", "--events", str(events)])
    log(f"ingest: {shown}")
    try:
        done = subprocess.run(
            cmd, cwd=HERE.parent, capture_output=True, text=True, check=False, timeout=900
        )
    except subprocess.TimeoutExpired:
        return report.Ingest(command=shown, skipped="bench/ingest.py timed out")
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return report.Ingest(
            command=shown, skipped=f"bench/ingest.py exited {done.returncode}: {tail}"
        )
    data = json.loads(out.read_text())
    for line in done.stderr.strip().splitlines():
        log(f"  {line.strip()}")
    return report.Ingest(command=shown, results=data["results"], machine=data["machine"])


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS)}; got {text!r}")
    return chosen


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
    parser.add_argument(
        "--sections",
        type=_sections,
        default=DEFAULT_SECTIONS,
        help=f"comma-separated subset of {','.join(SECTIONS)} "
        f"(default: {','.join(DEFAULT_SECTIONS)})",
    )
    parser.add_argument(
        "--skip-actor-scale", action="store_true", help="leave out the actor-scale section"
    )
    parser.add_argument("--skip-ingest", action="store_true", help="leave out the ingest section")
    parser.add_argument(
        "--seed-live",
        action="store_true",
        help="actor-scale: seed etcd under the running control plane (default: stop it, "
        "seed, restart it; live seeding of 100k keys overwhelms it today)",
    )
    parser.add_argument(
        "--keys", dest="key_count", type=int, default=actor_scale.KEYS, help="actor-scale keys"
    )
    parser.add_argument(
        "--actors",
        dest="actor_count",
        type=int,
        default=actor_scale.ACTORS,
        help="actor-scale actors",
    )
    parser.add_argument(
        "--ingest-events", type=int, help="events per ingest run (default 50000, quick 10000)"
    )
    args = parser.parse_args(argv)
    wanted = set(args.sections)
    wanted -= {"actor-scale"} if args.skip_actor_scale else set()
    wanted -= {"ingest"} if args.skip_ingest else set()
    if "quota" in wanted:
        wanted.add("passthrough")  # measured beside the pass-through runs
    args.sections = tuple(x for x in SECTIONS if x in wanted)
    return args


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _failed(section: str, exc: BaseException, runner: Runner) -> str:
    """A section that failed is reported in RESULTS.md; the others still run."""
    log(f"{section} FAILED: {exc}")
    runner.args.keep = True
    return f"failed: {str(exc).strip()[:800]} (logs kept in {runner.tmp})"


def run(args: argparse.Namespace, runner: Runner) -> report.Bench:
    quiet, worst = cpustat.wait_quiet(QUIET, QUIET_WAIT_S)
    start_note = f"before starting, the busiest CPU was {worst:.0%} busy" + (
        "" if quiet else f" after waiting {QUIET_WAIT_S:.0f} s for quiet: expect noise"
    )
    log(start_note)
    log(f"sections: {', '.join(args.sections)}")
    mock = mock_nginx.start(
        runner.tmp / "nginx", cpu=LOAD_CPU, log_dir=runner.tmp, children=runner.children
    )
    load_before = _loadavg()
    passthrough = "passthrough" in args.sections
    mock_json, mock_sse = mock_only(runner, mock) if passthrough else (None, None)
    floor = runner.start_floor(mock)
    targets = [floor]
    missing = "--skip-dataplane given" if args.skip_dataplane else oggy_stack.dataplane_missing()
    tenant = None
    if missing:
        log(f"SKIPPING the data plane: {missing}")
    elif passthrough:
        dp_target, _, tenant = runner.start_dataplane(mock)
        targets.append(dp_target)
        if "quota" in args.sections:
            targets.append(quota_target(runner, mock, dp_target))
    bench = report.Bench(
        command=shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]]),
        seconds=runner.seconds,
        rounds=runner.rounds,
        mock_json=mock_json,
        mock_sse=mock_sse,
        floor=report.SutRun(name=floor.name),
        dataplane_skipped=missing,
        passthrough=passthrough,
    )
    try:
        if passthrough:
            for target in targets:
                runner.warm_up(target)
            results = runner.measure(targets)
            bench.floor = results[0]
            bench.dataplane = results[1] if len(results) > 1 else None
            bench.quota = results[2] if len(results) > 2 else None
            if bench.quota is not None and bench.dataplane is not None:
                bench.quota_lines = quota_bench.section(bench.floor, bench.dataplane, bench.quota)
            if args.profile:
                log("profiling under load")
                bench.profile_md = runner.profile(targets, results)
            if runner.admin is not None and tenant is not None:
                dp_target = targets[1]
                assert dp_target.tally is not None
                bench.usage_lines = runner.check_usage(runner.admin, tenant, dp_target.tally)
        if "actor-scale" in args.sections:
            if missing:
                bench.actor_scale = report.ActorScale(skipped=f"no data plane: {missing}")
            else:
                main_dp = targets[1] if len(targets) > 1 else None
                try:
                    bench.actor_scale = measure_actor_scale(runner, mock, floor, main_dp)
                except (procs.BenchError, RuntimeError, grpc.RpcError, OSError) as exc:
                    reason = _failed("actor-scale", exc, runner)
                    bench.actor_scale = report.ActorScale(skipped=reason)
        if "ingest" in args.sections:
            runner.children.stop_all()  # nothing of ours competes with the ingest runs
            bench.ingest = measure_ingest(runner)
    finally:
        if runner.admin is not None:
            runner.admin.close()
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
    started = time.monotonic()
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
    bench.notes.append(f"whole run: {time.monotonic() - started:.0f} s")
    output = Path(args.output)
    previous = output.read_text() if output.exists() else ""
    kept = report.kept_analysis(previous)
    text = report.render(bench, report.machine(), previous)
    output.write_text(text + ("\n" + kept if kept else ""))
    if bench.passthrough:
        print(report.table(bench))
        for line in [*report.verdicts(bench), *report.mock_check(bench), *bench.usage_lines]:
            print(f"- {line}")
    scale = bench.actor_scale
    if scale is not None and scale.skipped:
        print(f"- signed actor at scale: {scale.skipped}")
    elif scale is not None:
        print(
            f"\nsigned actor at scale: {scale.keys:,} keys, {scale.actors:,} actors, snapshot "
            f"{scale.snapshot_bytes / 1024 / 1024:.1f} MiB, ready in {scale.ready_s:.2f} s"
        )
        print(report.scale_table(scale))
        for line in [*report.scale_verdicts(scale), *scale.checks]:
            print(f"- {line}")
    if bench.quota_lines:
        print("\n" + "\n".join(bench.quota_lines))
    if bench.ingest is not None:
        print("\n" + "\n".join(report.ingest_section(bench.ingest)[2:]))
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
