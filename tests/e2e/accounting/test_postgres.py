"""The PostgreSQL usage store end to end: a control plane started with
`--usage-store postgresql://...` (in a throwaway schema, reached through a TCP proxy this
test controls) records the same events as the SQLite store of the shared stack for the
same traffic; with the proxy cut for a few seconds under load every event still arrives
exactly once; and full prompt logging leaves no raw secret in any row."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import anthropic
import psycopg
import pytest
from psycopg import conninfo, sql

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import usage_pb2
from tests.e2e.accounting.support import (
    CHAT_MODEL,
    CLAUDE_MODEL,
    EMBED_MODEL,
    AcctTenant,
    Load,
    create_acct_tenant,
    create_full_logging_tenant,
    register,
    secret_prompt,
    wait_all_once,
)
from tests.e2e.conftest import Stack, state_dir_secrets
from tests.support import postgres
from tests.support.oggy_clients import (
    AdminClient,
    chat_body,
    http_request,
    list_usage,
    openai_client,
    wait_for_requests,
    wait_until,
)
from tests.support.processes import (
    Processes,
    start_control_plane,
    start_data_plane,
    start_etcd,
    start_mock_provider,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

# How long the usage database is unreachable under load.
DB_OUTAGE_S = 4.0


class TcpProxy:
    """A loopback TCP proxy in its own thread and event loop. `cut()` resets every open
    connection and resets new ones at once (the database is "down"); `restore()` ends it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._cut = False
        self._transports: set[asyncio.BaseTransport] = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port: int = self.server.sockets[0].getsockname()[1]

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer.transport, up_writer.transport}
        self._transports |= pair

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._transports -= pair

    async def _set_cut(self, cut: bool) -> None:
        self._cut = cut
        if cut:
            for transport in list(self._transports):
                transport.abort()  # type: ignore[attr-defined]

    def cut(self) -> None:
        self._call(self._set_cut(True))

    def restore(self) -> None:
        self._call(self._set_cut(False))

    def close(self) -> None:
        self._call(self._set_cut(True))
        self.server.close()
        self._call(self.server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with postgres.temp_schema() as schema:
        yield schema


@pytest.fixture(scope="module")
def proxy(pg_schema: str) -> Iterator[TcpProxy]:
    p = TcpProxy(*postgres.server_address())
    yield p
    p.close()


def usage_store_url(port: int, schema: str) -> str:
    """A postgresql:// URL to the test database through 127.0.0.1:`port`, tables in `schema`."""
    info = conninfo.conninfo_to_dict(postgres.POSTGRES_URL)
    user = urllib.parse.quote(str(info.get("user") or "postgres"), safe="")
    password = info.get("password")
    auth = f"{user}:{urllib.parse.quote(str(password), safe='')}" if password else user
    dbname = urllib.parse.quote(str(info.get("dbname") or "postgres"), safe="")
    options = urllib.parse.quote(f"-csearch_path={schema}", safe="")
    return f"postgresql://{auth}@127.0.0.1:{port}/{dbname}?options={options}"


@pytest.fixture(scope="module")
def pg_stack(
    processes: Processes,
    tmp_path_factory: pytest.TempPathFactory,
    secret_registry: dict[str, str],
    proxy: TcpProxy,
    pg_schema: str,
) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stack-acct-pg")
    etcd = start_etcd(processes, root / "etcd")
    cp = start_control_plane(
        processes,
        etcd.url,
        root / "cp-state",
        extra_args=["--usage-store", usage_store_url(proxy.port, pg_schema)],
    )
    for label, value in state_dir_secrets(cp.state_dir).items():
        secret_registry[f"acct-pg {label}"] = value
    mock = start_mock_provider(processes)
    dp = start_data_plane(processes, cp, root / "spool", node_id="dp-acct-pg")
    stack = Stack(
        "acct-pg", root, processes, etcd, cp, mock, dp, AdminClient(cp.address, cp.admin_token)
    )
    yield stack
    stack.stop()


def schema_tables(schema: str) -> list[str]:
    with postgres.connect() as conn:
        return [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            ).fetchall()
        ]


# ------------------------------------------------------------------ same events as SQLite


def send_mix(stack: Stack, tenant: AcctTenant) -> list[str]:
    """One of each: chat (plain, cached+reasoning, streamed), completions, embeddings,
    responses, Anthropic messages, an upstream 500 and an unknown model; x-request-ids."""
    ids = []
    with openai_client(stack.dp.url, tenant.key_text) as client:
        for stream in (False, True):
            raw = client.chat.completions.with_raw_response.create(
                model=CHAT_MODEL,
                messages=[{"role": "user", "content": "pg chat mock:cached=3 mock:reasoning=2"}],
                stream=stream,
            )
            if stream:
                list(raw.parse())
            ids.append(raw.headers["x-request-id"])
        raw = client.completions.with_raw_response.create(model=CHAT_MODEL, prompt="pg legacy")
        ids.append(raw.headers["x-request-id"])
        raw = client.embeddings.with_raw_response.create(
            model=EMBED_MODEL, input="pg embed", encoding_format="float"
        )
        ids.append(raw.headers["x-request-id"])
        raw = client.responses.with_raw_response.create(model=CHAT_MODEL, input="pg resp")
        ids.append(raw.headers["x-request-id"])
    for model, text, status in (
        (CHAT_MODEL, "pg fail mock:status=500", 500),
        ("no-such-model", "x", 404),
    ):
        resp = http_request(
            "POST",
            f"{stack.dp.url}/v1/chat/completions",
            {**chat_body(text), "model": model},
            headers=tenant.bearer,
        )
        assert resp.status == status, resp.body
        ids.append(resp.headers["x-request-id"])
    with anthropic.Anthropic(
        base_url=stack.dp.url, api_key=tenant.key_text, max_retries=0
    ) as claude:
        raw = claude.messages.with_raw_response.create(
            model=CLAUDE_MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "pg claude mock:cache_write=2"}],
        )
        ids.append(raw.headers["x-request-id"])
    return ids


def comparable(ev: usage_pb2.UsageEvent, tenant: AcctTenant) -> usage_pb2.UsageEvent:
    """The event without what differs per stack and per run (ids, names, times)."""
    short = {name: short for short, name in tenant.providers.items()}
    out = usage_pb2.UsageEvent()
    out.CopyFrom(ev)
    for name in (
        "event_id",
        "request_id",
        "upstream_request_id",
        "workspace",
        "key",
        "start_time",
        "latency_ms",
        "time_to_first_token_ms",
        "dataplane_id",
        "price_catalog_version",
    ):
        out.ClearField(name)
    out.provider = short.get(ev.provider, ev.provider)
    for attempt in out.attempts:
        attempt.provider = short.get(attempt.provider, attempt.provider)
        attempt.latency_ms = 0
    return out


def test_postgres_store_records_what_sqlite_records(
    stack: Stack, pg_stack: Stack, secret_registry: dict[str, str]
) -> None:
    results = {}
    for name, s in (("sqlite", stack), ("postgresql", pg_stack)):
        tenant = register(
            secret_registry, create_acct_tenant(s.admin, s.mock.url, s.dp.url, prefix="pgcmp")
        )
        ids = send_mix(s, tenant)
        events = wait_for_requests(s.admin, tenant.workspace, ids, endpoint=None)
        summary = s.admin.SummarizeUsage(
            admin_pb.SummarizeUsageRequest(
                filter=admin_pb.UsageFilter(workspace=tenant.workspace),
                group_by=[usage_pb2.USAGE_GROUP_BY_MODEL],
            )
        )
        results[name] = (
            [comparable(events[rid], tenant) for rid in ids],
            [
                (tuple(r.group), r.requests, r.errors, r.total_tokens, r.cost_micro_usd)
                for r in summary.rows
                if r.group != [""]  # /v1/models (key acceptance polls): not part of the mix
            ],
        )
    sqlite_events, sqlite_summary = results["sqlite"]
    pg_events, pg_summary = results["postgresql"]
    assert len(pg_events) == 8
    for i, (a, b) in enumerate(zip(sqlite_events, pg_events, strict=True)):
        assert a == b, f"event {i} differs:\nsqlite:\n{a}\npostgresql:\n{b}"
    assert sorted(pg_summary) == sorted(sqlite_summary)
    assert any(e.cost_micro_usd for e in pg_events)


# ------------------------------------------------------------------ usage store outage


def test_usage_database_outage_under_load(
    pg_stack: Stack, proxy: TcpProxy, secret_registry: dict[str, str]
) -> None:
    tenant = register(
        secret_registry,
        create_acct_tenant(
            pg_stack.admin, pg_stack.mock.url, pg_stack.dp.url, prefix="pgdown", all_kinds=False
        ),
    )
    with Load(lambda: pg_stack.dp.url, tenant.key_text, workers=3, tag="pgdown", pause=0.02) as ld:
        ld.wait_answered(20, timeout=30)
        proxy.cut()
        try:
            before = len(ld.result.answered)
            time.sleep(DB_OUTAGE_S)  # a deliberate outage length, not a wait for a condition
            during = len(ld.result.answered) - before
        finally:
            proxy.restore()
        ld.wait_answered(before + during + 20, timeout=30)
    r = ld.result
    assert r.failed == 0 and not r.other_status, "the data plane stopped serving"
    assert during >= 20, f"only {during} requests answered while the database was down"
    wait_all_once(pg_stack.admin, tenant.workspace, r.answered, timeout=30)
    stored = list_usage(pg_stack.admin, tenant.workspace, endpoint=None)
    assert len(stored) == len({e.event_id for e in stored})


# ------------------------------------------------------------------ no raw secret in rows


def test_full_prompt_logging_rows_hold_no_raw_secret(
    pg_stack: Stack, pg_schema: str, secret_registry: dict[str, str]
) -> None:
    tenant = register(
        secret_registry,
        create_full_logging_tenant(pg_stack.admin, pg_stack.mock.url, pg_stack.dp.url, 3600),
    )
    marker, text, needles = secret_prompt()
    for label, value in needles.items():
        secret_registry[f"pg redaction test {label}"] = value
    with openai_client(pg_stack.dp.url, tenant.key_text) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": text}]
        )
    rid = raw.headers["x-request-id"]
    wait_for_requests(pg_stack.admin, tenant.workspace, [rid])
    wait_until(
        lambda: (
            pg_stack.admin.ListPromptLogs(
                admin_pb.ListPromptLogsRequest(
                    filter=admin_pb.UsageFilter(workspace=tenant.workspace)
                )
            ).prompt_logs
        ),
        timeout=10,
        message="the prompt log",
    )

    dump: list[str] = []
    with postgres.connect() as conn:
        for table in schema_tables(pg_schema):
            query = sql.SQL("SELECT row_to_json(t)::text FROM {}.{} t").format(
                sql.Identifier(pg_schema), sql.Identifier(table)
            )
            with contextlib.suppress(psycopg.Error):
                dump.extend(row for (row,) in conn.execute(query).fetchall())
    everything = "\n".join(dump)
    assert marker in everything, "the redacted prompt text is not in any row"
    assert "[EMAIL]" in everything and "[CARD]" in everything and "[API_KEY]" in everything
    leaked = [label for label, value in needles.items() if value in everything]
    assert not leaked, f"raw secrets in PostgreSQL rows: {leaked}"
