"""Helpers of the accounting e2e suite: a workspace with one provider of each kind at the mock
and explicit per-workspace prices, the cost arithmetic the tests expect (written here
independently of dataplane/core/pricing.py), exactly-once checks by request id, and a small
threaded load generator that records which requests got an answer.
"""

from __future__ import annotations

import http.client
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf import duration_pb2

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import policy_pb2, price_pb2, provider_pb2, usage_pb2, workspace_pb2
from tests.support.oggy_clients import (
    AdminClient,
    WaitTimeout,
    chat_body,
    create_key,
    http_request,
    list_usage,
    new_id,
    wait_until,
)

Kind = provider_pb2.ProviderCredential

CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "text-embedding-3-small"
AZURE_MODEL = "azure-4o"
AZURE_DEPLOYMENT = "dep-4o"
AZURE_API_VERSION = "2024-10-21"
CLAUDE_MODEL = "claude-3-5-haiku"


@dataclass(frozen=True)
class Rate:
    """Micro-USD per 1M tokens, per token class (None: the plain input/output rate)."""

    input: int
    output: int
    cached: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None


# (provider kind, model) → rates. Odd numbers so a wrong token class shows in the cost.
RATES: dict[tuple[str, str], Rate] = {
    ("openai_compatible", CHAT_MODEL): Rate(3_000_007, 12_000_011, 1_500_003, None, 48_000_013),
    ("openai_compatible", EMBED_MODEL): Rate(130_001, 0),
    ("azure_openai", AZURE_MODEL): Rate(5_000_017, 15_000_019, 2_500_001, None, 30_000_023),
    ("anthropic", CLAUDE_MODEL): Rate(800_003, 4_000_009, 80_021, 1_000_031),
}


def expected_cost(
    kind: str,
    model: str,
    *,
    prompt: int,
    completion: int,
    cached: int = 0,
    reasoning: int = 0,
    cache_write: int = 0,
    rates: Mapping[tuple[str, str], Rate] = RATES,
) -> int:
    """Micro-USD, rounded half up once: prompt includes cached reads and cache writes,
    completion includes reasoning (the OpenAI convention the gateway normalises to)."""
    r = rates[(kind, model)]
    numerator = (
        (prompt - cached - cache_write) * r.input
        + cached * (r.input if r.cached is None else r.cached)
        + cache_write * (r.input if r.cache_write is None else r.cache_write)
        + (completion - reasoning) * r.output
        + reasoning * (r.output if r.reasoning is None else r.reasoning)
    )
    return (2 * numerator + 1_000_000) // 2_000_000


@dataclass
class AcctTenant:
    workspace: str
    key_name: str
    key_text: str = field(repr=False)
    provider_api_keys: dict[str, str] = field(repr=False)  # provider name → api key
    providers: dict[str, str]  # short name → provider resource name

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key_text}"}


def create_provider(
    admin: AdminClient,
    workspace: str,
    provider_id: str,
    kind: int,
    base_url: str,
    models: list[str],
    **extra: object,
) -> tuple[str, str]:
    """(provider name, its api key)."""
    api_key = f"sk-mock-{secrets.token_urlsafe(24)}"
    name = admin.CreateProviderCredential(
        admin_pb.CreateProviderCredentialRequest(
            parent=workspace,
            provider_id=provider_id,
            provider_credential=provider_pb2.ProviderCredential(
                display_name=provider_id,
                kind=kind,  # type: ignore[arg-type]
                base_url=base_url,
                models=models,
                api_key=api_key,
                allow_private_network=True,  # the mock listens on loopback
                **extra,  # type: ignore[arg-type]
            ),
        )
    ).provider_credential.name
    return name, api_key


def set_prices(
    admin: AdminClient, workspace: str, rates: Mapping[tuple[str, str], Rate] = RATES
) -> None:
    """Workspace overrides (never catalog prices: those would reprice every other module)."""
    for (kind, model), r in rates.items():
        price = price_pb2.ModelPrice(
            provider=kind, model=model, input_per_mtok=r.input, output_per_mtok=r.output
        )
        if r.cached is not None:
            price.cached_input_per_mtok = r.cached
        if r.cache_write is not None:
            price.cache_write_per_mtok = r.cache_write
        if r.reasoning is not None:
            price.reasoning_per_mtok = r.reasoning
        admin.SetModelPrice(admin_pb.SetModelPriceRequest(parent=workspace, model_price=price))


def create_workspace(admin: AdminClient, prefix: str) -> str:
    return admin.CreateWorkspace(
        admin_pb.CreateWorkspaceRequest(
            workspace_id=new_id(prefix), workspace=workspace_pb2.Workspace(display_name=prefix)
        )
    ).workspace.name


def create_acct_tenant(
    admin: AdminClient,
    mock_url: str,
    dataplane_url: str,
    *,
    prefix: str,
    all_kinds: bool = True,
    prices: bool = True,
) -> AcctTenant:
    """A workspace served by the mock as OpenAI-compatible (and, with `all_kinds`, as Azure
    OpenAI and Anthropic too), priced by RATES, with one gateway key the data plane accepts
    (prices are set before the key, so the key's acceptance implies the prices arrived)."""
    workspace = create_workspace(admin, prefix)
    providers: dict[str, str] = {}
    api_keys: dict[str, str] = {}
    name, api_key = create_provider(
        admin,
        workspace,
        "mock",
        Kind.KIND_OPENAI_COMPATIBLE,
        f"{mock_url}/v1",
        [CHAT_MODEL, EMBED_MODEL, "gpt-4o*"],
    )
    providers["mock"], api_keys[name] = name, api_key
    if all_kinds:
        name, api_key = create_provider(
            admin,
            workspace,
            "azure",
            Kind.KIND_AZURE_OPENAI,
            mock_url,
            [AZURE_MODEL],
            api_version=AZURE_API_VERSION,
            deployments={AZURE_MODEL: AZURE_DEPLOYMENT},
        )
        providers["azure"], api_keys[name] = name, api_key
        name, api_key = create_provider(
            admin, workspace, "claude", Kind.KIND_ANTHROPIC, mock_url, ["claude-*"]
        )
        providers["claude"], api_keys[name] = name, api_key
    if prices:
        set_prices(admin, workspace)
    key_name, key_text = create_key(admin, workspace, dataplane_url)
    return AcctTenant(workspace, key_name, key_text, api_keys, providers)


def register(secret_registry: dict[str, str], tenant: AcctTenant) -> AcctTenant:
    """Put the tenant's secrets where test_secrets.py scans every log for them."""
    for provider, api_key in tenant.provider_api_keys.items():
        secret_registry[f"{provider} provider api key"] = api_key
    secret_registry[f"{tenant.key_name} gateway key text"] = tenant.key_text
    secret_registry[f"{tenant.key_name} gateway key secret"] = tenant.key_text.rsplit("_", 1)[1]
    return tenant


# ------------------------------------------------------------------ prompt logging


def create_full_logging_tenant(
    admin: AdminClient, mock_url: str, dataplane_url: str, retention_s: int
) -> AcctTenant:
    """A workspace whose policy logs full (redacted) prompts for `retention_s` seconds."""
    workspace = create_workspace(admin, "redact")
    provider, api_key = create_provider(
        admin, workspace, "mock", Kind.KIND_OPENAI_COMPATIBLE, f"{mock_url}/v1", [CHAT_MODEL]
    )
    admin.CreatePolicy(
        admin_pb.CreatePolicyRequest(
            parent=workspace,
            policy_id="full-logging",
            policy=policy_pb2.Policy(
                target=workspace,
                prompt_logging=policy_pb2.Policy.PROMPT_LOGGING_FULL,
                prompt_retention=duration_pb2.Duration(seconds=retention_s),
            ),
        )
    )
    # Created after the policy: once the data plane accepts the key, it has the policy too.
    key_name, key_text = create_key(admin, workspace, dataplane_url)
    return AcctTenant(workspace, key_name, key_text, {provider: api_key}, {"mock": provider})


def luhn_card() -> str:
    """A random 16-digit Visa-style number with a valid Luhn check digit."""
    body = "4" + "".join(secrets.choice("0123456789") for _ in range(14))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def secret_prompt() -> tuple[str, str, dict[str, str]]:
    """(marker, prompt text, label → raw secret form) for a prompt with an email, a card
    and an API key (plus `mock:words=5`)."""
    marker = f"ledger{secrets.token_hex(4)}"
    email = f"jane.doe.{secrets.token_hex(3)}@example.com"
    card = luhn_card()
    spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    api_key = f"sk-proj-{secrets.token_urlsafe(30)}"
    needles = {
        "email": email,
        "email local part": email.split("@")[0],
        "card": card,
        "card (spaced)": spaced,
        "api key": api_key,
        "api key body": api_key.removeprefix("sk-proj-"),
    }
    text = f"{marker}: mail {email} and charge {spaced} with key {api_key} please mock:words=5"
    return marker, text, needles


# ------------------------------------------------------------------ exactly once


def request_id_counts(admin: AdminClient, workspace: str) -> Counter[str]:
    """How many stored events each request id has (every endpoint)."""
    return Counter(e.request_id for e in list_usage(admin, workspace, endpoint=None))


def wait_all_once(
    admin: AdminClient, workspace: str, request_ids: list[str], *, timeout: float = 30.0
) -> dict[str, usage_pb2.UsageEvent]:
    """Poll until every request id has an event; then check none has two, and that nothing
    more trickles in for a moment (a replayed batch would). Returns the events by id."""
    wanted = set(request_ids)
    assert len(wanted) == len(request_ids), "the data plane reused a request id"
    assert all(request_ids), "a response without x-request-id"

    def complete() -> list[usage_pb2.UsageEvent] | None:
        events = list_usage(admin, workspace, endpoint=None)
        return events if wanted <= {e.request_id for e in events} else None

    try:
        events = wait_until(complete, timeout=timeout, interval=0.2, message="usage events")
    except WaitTimeout:
        have = set(request_id_counts(admin, workspace))
        missing = sorted(wanted - have)
        raise WaitTimeout(
            f"{len(missing)} of {len(wanted)} requests have no usage event after {timeout}s "
            f"(first: {missing[:5]})"
        ) from None
    counts = Counter(e.request_id for e in events)
    dupes = {rid: n for rid, n in counts.items() if n > 1}
    assert not dupes, f"requests counted more than once: {dupes}"
    assert len({e.event_id for e in events}) == len(events), "duplicate event ids"
    settle_deadline = time.monotonic() + 1.0
    while time.monotonic() < settle_deadline:
        later = request_id_counts(admin, workspace)
        dupes = {rid: n for rid, n in later.items() if n > 1}
        assert not dupes, f"requests counted more than once later: {dupes}"
        time.sleep(0.2)
    return {e.request_id: e for e in events if e.request_id in wanted}


# ------------------------------------------------------------------ load


@dataclass
class LoadResult:
    answered: list[str] = field(default_factory=list)  # x-request-ids of 200 answers
    other_status: list[tuple[int, str]] = field(default_factory=list)  # (status, x-request-id)
    failed: int = 0  # connection errors (no answer at all)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sent(self) -> int:
        return len(self.answered) + len(self.other_status) + self.failed


class Load:
    """`workers` threads sending small chat requests (alternating plain and streaming) to
    `url_of()` until `stop()` or until `total` requests were sent."""

    def __init__(
        self,
        url_of: Callable[[], str],
        key_text: str,
        *,
        workers: int = 4,
        total: int | None = None,
        tag: str = "load",
        pause: float = 0.0,
    ) -> None:
        self._pause = pause
        self._url_of = url_of
        self._headers = {"authorization": f"Bearer {key_text}"}
        self._total = total
        self._tag = tag
        self._stop = threading.Event()
        self._counter = iter(range(10**9))
        self._counter_lock = threading.Lock()
        self.result = LoadResult()
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{i}", daemon=True)
            for i in range(workers)
        ]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a load thread hung"

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def wait_answered(self, n: int, timeout: float) -> None:
        wait_until(
            lambda: len(self.result.answered) >= n or self.done(),
            timeout=timeout,
            message=f"{n} answered requests",
        )

    def _next(self) -> int | None:
        with self._counter_lock:
            i = next(self._counter)
        return None if self._total is not None and i >= self._total else i

    def _run(self) -> None:
        r = self.result
        while not self._stop.is_set():
            i = self._next()
            if i is None:
                return
            body = chat_body(f"{self._tag} {i} mock:words=3", stream=i % 2 == 1)
            while True:
                try:
                    resp = http_request(
                        "POST",
                        f"{self._url_of()}/v1/chat/completions",
                        body,
                        headers=self._headers,
                        timeout=15,
                    )
                except ConnectionRefusedError:  # nobody listening (restarting): never sent
                    if self._stop.is_set():
                        return
                    time.sleep(0.05)
                    continue
                except (OSError, http.client.HTTPException):  # no whole answer: in flight
                    with r.lock:
                        r.failed += 1
                    resp = None
                break
            if resp is None:
                continue
            rid = resp.headers.get("x-request-id", "")
            complete = resp.status == 200 and (
                i % 2 == 0 or resp.body.rstrip().endswith(b"data: [DONE]")
            )
            with r.lock:
                if complete:
                    r.answered.append(rid)
                else:
                    r.other_status.append((resp.status, rid))
            if self._pause:
                time.sleep(self._pause)
