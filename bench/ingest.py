"""Usage ingest rate: events/s through the real UsageIngestServicer over gRPC on loopback.

    .venv/bin/python bench/ingest.py [--events 50000] [--batch 500 --batch 100]
                                     [--window 32] [--stores sqlite,postgresql]

The control-plane side (grpc.aio server + UsageIngestServicer + the store) runs in
this process; the client runs in a child process, like a data plane, and streams
ReportUsage batches with up to `--window` unacknowledged batches in flight (the
data plane's reporter default is 32). The rate is events / (first write → last
ack); every ack is `stored = true` only after the store committed the batch.
Each run uses a fresh store: a new SQLite file (WAL, synchronous=FULL) or a new
PostgreSQL schema (dropped afterwards). Events carry every UsageEvent field; 10 %
carry prompt text (stored in prompt_logs in the same transaction).

Prints a table and writes bench/out/ingest.json (or `--out`). bench/run.py runs it as
the "usage ingest" section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
import psycopg

from controlplane.usage import SqliteUsageStore, UsageIngestServicer
from controlplane.usage.postgres import PostgresUsageStore
from oggy.v1 import usage_pb2, usage_service_pb2, usage_service_pb2_grpc

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "ingest.json"
POSTGRES_URL = os.environ.get(
    "OGGY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
W = "workspaces/bench"


# -- client (child process) ------------------------------------------------------------


def make_event(i: int, run: str) -> usage_pb2.UsageEvent:
    e = usage_pb2.UsageEvent(
        event_id=f"{run}-{i:09d}",
        workspace=W,
        key=f"{W}/keys/k{i % 50}",
        actor=f"{W}/actors/a{i % 200}",
        provider=f"{W}/providers/openai",
        model=("gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet")[i % 3],
        endpoint="/v1/chat/completions",
        stream=i % 2 == 0,
        http_status=200,
        prompt_tokens=120 + i % 50,
        completion_tokens=40 + i % 30,
        total_tokens=160 + i % 50 + i % 30,
        cached_tokens=i % 7,
        reasoning_tokens=0,
        token_source="provider",
        latency_ms=250.5,
        time_to_first_token_ms=80.25,
        dataplane_id="dp-bench",
        client_ip="10.0.0.1",
        request_id=f"req-{i}",
        upstream_request_id=f"chatcmpl-{i}",
        cache_creation_tokens=0,
        cost_micro_usd=1234 + i % 100,
        price_catalog_version="2025-01-01.1",
        team=f"team-{i % 5}",
        app="checkout",
        environment="prod",
        workflow="agent",
        labels={"ticket": f"T-{i % 100}"},
        requested_model="fast",
    )
    e.start_time.FromMicroseconds(1_700_000_000_000_000 + i * 1000)
    e.attempts.add(provider=e.provider, model=e.model, http_status=200, latency_ms=249.0)
    e.prompt.message_count = 3
    e.prompt.context_tokens = e.prompt_tokens
    e.prompt.request_bytes = 2048
    e.prompt.response_bytes = 512
    e.prompt.finish_reason = "stop"
    if i % 10 == 0:
        e.prompt_text.request_text = "summarise the ticket for [REDACTED:email] " * 8
        e.prompt_text.response_text = "the customer asked for a refund " * 4
        e.prompt_text.expire_time.FromSeconds(4_000_000_000)
    return e


async def client(port: int, events: int, batch: int, window: int) -> dict[str, object]:
    run = uuid.uuid4().hex[:8]
    batches = [
        usage_service_pb2.ReportUsageRequest(
            batch_id=f"b{n}",
            dataplane_id="dp-bench",
            events=[make_event(i, run) for i in range(start, min(start + batch, events))],
        )
        for n, start in enumerate(range(0, events, batch))
    ]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = usage_service_pb2_grpc.UsageServiceStub(channel)
        call = stub.ReportUsage()
        slots = asyncio.Semaphore(window)
        sent_at: dict[str, float] = {}
        latencies: list[float] = []
        inserted = 0

        async def writer() -> None:
            for b in batches:
                await slots.acquire()
                sent_at[b.batch_id] = time.perf_counter()
                await call.write(b)
            await call.done_writing()

        started = time.perf_counter()
        write_task = asyncio.create_task(writer())
        for _ in batches:
            reply = await call.read()
            if reply is grpc.aio.EOF or not reply.stored:
                raise RuntimeError(f"batch not stored: {reply}")
            latencies.append(time.perf_counter() - sent_at.pop(reply.batch_id))
            inserted += reply.inserted
            slots.release()
        elapsed = time.perf_counter() - started
        await write_task
    if inserted != events:
        raise RuntimeError(f"inserted {inserted} of {events}")
    latencies.sort()
    return {
        "events": events,
        "elapsed_s": round(elapsed, 3),
        "events_per_s": round(events / elapsed),
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "ack_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
    }


# -- server (this process) -------------------------------------------------------------


async def serve_and_measure(store: object, events: int, batch: int, window: int) -> dict:
    server = grpc.aio.server()
    usage_service_pb2_grpc.add_UsageServiceServicer_to_server(UsageIngestServicer(store), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--client",
            str(port),
            "--events",
            str(events),
            "--batch",
            str(batch),
            "--window",
            str(window),
            stdout=subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"client failed with exit code {proc.returncode}")
        return json.loads(out)
    finally:
        await server.stop(grace=None)


async def run_one(kind: str, events: int, batch: int, window: int, tmp: Path) -> dict:
    if kind == "sqlite":
        store = SqliteUsageStore(tmp / f"ingest-{batch}-{uuid.uuid4().hex[:6]}.db")
        try:
            return await serve_and_measure(store, events, batch, window)
        finally:
            await store.close()
    schema = f"oggy_bench_{uuid.uuid4().hex[:10]}"
    store = PostgresUsageStore(POSTGRES_URL, schema=schema, application_name="oggy-bench")
    try:
        return await serve_and_measure(store, events, batch, window)
    finally:
        await store.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def postgres_version() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        return None


async def main_async(args: argparse.Namespace) -> int:
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    pg_version = postgres_version() if "postgresql" in stores else None
    if "postgresql" in stores and pg_version is None:
        print(f"PostgreSQL at {POSTGRES_URL} unreachable; skipping it", file=sys.stderr)
        stores.remove("postgresql")
    results = []
    with tempfile.TemporaryDirectory(prefix="oggy-ingest-") as tmp:
        for kind in stores:
            for batch in args.batch:
                result = await run_one(kind, args.events, batch, args.window, Path(tmp))
                result.update(store=kind, batch=batch, window=args.window)
                results.append(result)
                print(
                    f"  {kind:<10} batch {batch:>4}: {result['events_per_s']:>7} events/s",
                    file=sys.stderr,
                )
    header = f"{'store':<11}{'batch':>6}{'events':>8}{'events/s':>10}{'ack p50':>10}{'ack p99':>10}"
    print(header)
    for r in results:
        print(
            f"{r['store']:<11}{r['batch']:>6}{r['events']:>8}{r['events_per_s']:>10}"
            f"{r['ack_p50_ms']:>8.1f}ms{r['ack_p99_ms']:>8.1f}ms"
        )
    write_json(
        Path(args.out),
        json.dumps(
            {
                "benchmark": "usage ingest over gRPC (UsageIngestServicer), loopback",
                "method": (
                    "client child process streams ReportUsage batches with up to `window` "
                    "unacked batches in flight; rate = events / (first write -> last ack); "
                    "acks only after commit; fresh store per run; 10% of events carry "
                    "prompt text"
                ),
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {
                    "cpus": os.cpu_count(),
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(),
                    "postgresql": pg_version,
                    "sqlite": __import__("sqlite3").sqlite_version,
                },
                "results": results,
            },
            indent=2,
        )
        + "\n",
    )
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def write_json(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--out", default=str(OUT), help="where to write the JSON results")
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        batch = (args.batch or [500])[0]
        print(json.dumps(asyncio.run(client(args.client, args.events, batch, args.window))))
        return 0
    args.batch = args.batch or [500, 100]
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
