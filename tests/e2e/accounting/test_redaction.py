"""Prompt logging end to end (DESIGN invariant 3 and the prompt-logging policy): under a
FULL policy with a 2 s retention, a prompt carrying an email, a Luhn-valid card and an API
key is stored redacted only; once past retention PurgePromptLogs deletes it and says how
many it deleted; no raw secret is anywhere in the usage database files, the usage events,
the data plane's spool or any process log."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from oggy.v1 import admin_service_pb2 as admin_pb
from tests.e2e.accounting.support import (
    CHAT_MODEL,
    AcctTenant,
    create_full_logging_tenant,
    register,
    secret_prompt,
)
from tests.e2e.conftest import Stack
from tests.support.oggy_clients import openai_client, wait_for_requests, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

RETENTION_S = 2


@pytest.fixture(scope="module")
def full_tenant(stack: Stack, secret_registry: dict[str, str]) -> AcctTenant:
    """A workspace whose policy logs full (redacted) prompts for RETENTION_S seconds."""
    tenant = create_full_logging_tenant(stack.admin, stack.mock.url, stack.dp.url, RETENTION_S)
    return register(secret_registry, tenant)


def prompt_logs(stack: Stack, workspace: str) -> list[admin_pb.PromptLog]:
    return list(
        stack.admin.ListPromptLogs(
            admin_pb.ListPromptLogsRequest(
                filter=admin_pb.UsageFilter(workspace=workspace), page_size=100
            )
        ).prompt_logs
    )


def files_containing(paths: list[Path], needles: dict[str, str]) -> list[str]:
    found = []
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        for label, needle in needles.items():
            for encoded in {needle.encode(), needle.encode("utf-16-le")}:
                if encoded in data:
                    found.append(f"{label} in {path.name}")
    return found


def test_full_prompt_logging_stores_only_redacted_text_and_purges_it(
    stack: Stack, full_tenant: AcctTenant, secret_registry: dict[str, str]
) -> None:
    marker, text, needles = secret_prompt()
    for label, value in needles.items():
        secret_registry[f"redaction test {label}"] = value

    request_ids = []
    with openai_client(stack.dp.url, full_tenant.key_text) as client:
        for stream in (False, True):
            raw = client.chat.completions.with_raw_response.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": text}], stream=stream
            )
            if stream:
                list(raw.parse())
            request_ids.append(raw.headers.get("x-request-id", ""))
    events = wait_for_requests(stack.admin, full_tenant.workspace, request_ids)
    sent_at = time.time()

    logs = wait_until(
        lambda: (found := prompt_logs(stack, full_tenant.workspace)) and len(found) == 2 and found,
        timeout=10,
        message="two prompt logs",
    )
    assert {log.event_id for log in logs} == {e.event_id for e in events.values()}
    for log in logs:
        request_text = log.text.request_text
        assert marker in request_text, "the prompt text was not logged"
        for label, value in needles.items():
            assert value not in request_text, f"raw {label} in the stored prompt log"
        for placeholder in ("[EMAIL]", "[CARD]", "[API_KEY]"):
            assert placeholder in request_text, (placeholder, request_text)
        assert dict(log.text.redactions) == {"EMAIL": 1, "CARD": 1, "API_KEY": 1}
        assert log.text.response_text, "the response text was not logged"
        expire = log.text.expire_time.ToNanoseconds() / 1e9
        assert sent_at - 1 < expire < sent_at + RETENTION_S + 5
    # The usage events themselves carry no raw secret either.
    for ev in events.values():
        serialized = ev.SerializeToString()
        assert not [label for label, v in needles.items() if v.encode() in serialized]

    # Not purged before its time...
    early = stack.admin.PurgePromptLogs(admin_pb.PurgePromptLogsRequest())
    assert len(prompt_logs(stack, full_tenant.workspace)) == 2, f"purged early ({early})"
    # ... and purged, with a count, after it.
    latest_expire = max(log.text.expire_time.ToNanoseconds() / 1e9 for log in logs)
    wait_until(lambda: time.time() > latest_expire + 0.2, timeout=RETENTION_S + 10)
    purged = stack.admin.PurgePromptLogs(admin_pb.PurgePromptLogsRequest())
    assert purged.purged >= 2, purged
    assert purged.purge_time.seconds >= int(latest_expire)
    assert prompt_logs(stack, full_tenant.workspace) == []
    # The usage events stay.
    assert set(wait_for_requests(stack.admin, full_tenant.workspace, request_ids)) == set(
        request_ids
    )

    state = stack.cp.state_dir
    db_files = [state / "usage.db", state / "usage.db-wal", state / "usage.db-shm"]
    assert db_files[0].is_file(), f"no SQLite usage store at {db_files[0]}"
    spool = sorted(p for p in stack.dp.spool_dir.rglob("*") if p.is_file())
    logs_dir = stack.procs.log_files()
    leaks = files_containing(db_files + spool + logs_dir, needles)
    assert not leaks, f"raw secrets on disk: {leaks}"
