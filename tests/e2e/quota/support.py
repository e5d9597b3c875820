"""Shared by the quota end-to-end tests: traffic through several data planes with the
official `openai` client (retries off, so every refusal is seen), and counting what was
admitted per rate-limit window."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import openai

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import budget_pb2, limit_pb2, price_pb2, scope_pb2
from tests.support.oggy_clients import AdminClient

MODEL = "gpt-4o-mini"
# Workspace prices for MODEL: $100 / $400 per million tokens (100 and 400 micro-USD a token),
# so a budget of a dollar is a few hundred requests.
INPUT_PER_MTOK = 100_000_000
OUTPUT_PER_MTOK = 400_000_000


@dataclass(frozen=True, slots=True)
class Outcome:
    time: float  # when the answer (or the refusal) came back
    plane: int  # which data plane served it
    status: int  # 200, or the refusal's HTTP status
    code: str = ""  # the error's code
    # When the window it was counted in ends, from `x-ratelimit-reset-requests` (0: none).
    window_end: float = 0.0


def async_client(url: str, key_text: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key_text, max_retries=0, timeout=30)


def reset_seconds(text: str) -> float:
    """OpenAI's reset duration (`20ms`, `1s`, `6m0s`, `1h2m3s`) in seconds."""
    if text.endswith("ms"):
        return int(text[:-2]) / 1000
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)([hms])", text):
        total += float(number) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


async def call(
    client: openai.AsyncOpenAI,
    plane: int,
    text: str,
    *,
    stream: bool = False,
    max_tokens: int | None = None,
    headers: dict[str, str] | None = None,
) -> Outcome:
    extra: dict[str, object] = {}
    if max_tokens is not None:
        extra["max_tokens"] = max_tokens
    try:
        messages = [{"role": "user", "content": text}]
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=messages, stream=stream, extra_headers=headers, **extra
        )
        answer = raw.parse()
        if stream:
            async for _ in answer:  # type: ignore[union-attr]
                pass
    except openai.APIStatusError as e:
        body = e.body if isinstance(e.body, dict) else {}
        return Outcome(time.time(), plane, e.status_code, str(body.get("code") or ""))
    now = time.time()
    reset = raw.headers.get("x-ratelimit-reset-requests")
    return Outcome(now, plane, 200, window_end=now + reset_seconds(reset) if reset else 0.0)


async def paced(
    clients: Sequence[openai.AsyncOpenAI],
    planes: Callable[[int], int],
    rate: float,
    seconds: float,
    text: str = "hello",
) -> list[Outcome]:
    """`rate` requests a second for `seconds`; request i goes to data plane `planes(i)`."""
    start = time.monotonic()
    tasks: list[asyncio.Task[Outcome]] = []
    i = 0
    while (due := start + i / rate) < start + seconds:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        plane = planes(i)
        tasks.append(asyncio.create_task(call(clients[plane], plane, text)))
        i += 1
    return list(await asyncio.gather(*tasks))


def admitted_per_window(outcomes: Sequence[Outcome], window_s: int) -> dict[int, int]:
    """Admitted requests by the epoch-aligned window the data plane counted them in (from
    the reset header: the time an answer took to come back never moves it to the next
    window), else by when the answer came back."""

    def window(o: Outcome) -> int:
        if o.window_end:
            # The header rounds up to whole seconds: the end is within a second before.
            return round((o.window_end - 0.5) / window_s) * window_s - window_s
        return int(o.time // window_s) * window_s

    counts = Counter(window(o) for o in outcomes if o.status == 200)
    return dict(sorted(counts.items()))


def sleep_to_window_start(window_s: int, offset: float = 0.05) -> float:
    """Sleep until just after the next window starts; returns that window's start."""
    now = time.time()
    start = (int(now // window_s) + 1) * window_s
    time.sleep(start + offset - now)
    return float(start)


def set_prices(admin: AdminClient, workspace: str) -> None:
    admin.SetModelPrice(
        admin_pb.SetModelPriceRequest(
            parent=workspace,
            model_price=price_pb2.ModelPrice(
                provider="*",
                model=MODEL,
                input_per_mtok=INPUT_PER_MTOK,
                output_per_mtok=OUTPUT_PER_MTOK,
            ),
        )
    )


def create_limit(admin: AdminClient, workspace: str, limit_id: str, **fields: object) -> str:
    limit = limit_pb2.Limit(**fields)  # type: ignore[arg-type]
    return admin.CreateLimit(
        admin_pb.CreateLimitRequest(parent=workspace, limit_id=limit_id, limit=limit)
    ).limit.name


def create_budget(
    admin: AdminClient,
    workspace: str,
    budget_id: str,
    amount_micro_usd: int,
    *,
    scope: scope_pb2.Scope | None = None,
    enforcement: int = budget_pb2.Budget.ENFORCEMENT_HARD,
    per: int = scope_pb2.COUNTED_PER_SCOPE,
    thresholds: Sequence[int] = (),
) -> str:
    budget = budget_pb2.Budget(
        scope=scope or scope_pb2.Scope(),
        counted_per=per,
        amount_micro_usd=amount_micro_usd,
        period=budget_pb2.Budget.PERIOD_DAY,
        enforcement=enforcement,
        threshold_percents=list(thresholds),
    )
    return admin.CreateBudget(
        admin_pb.CreateBudgetRequest(parent=workspace, budget_id=budget_id, budget=budget)
    ).budget.name


def mock_spend(mock_requests: Sequence[dict[str, object]], provider_api_key: str) -> int:
    """Micro-USD of what the mock billed to `provider_api_key`, at this module's prices."""
    total = 0
    for entry in mock_requests:
        headers = entry.get("headers") or {}
        usage = entry.get("usage")
        if not isinstance(usage, dict) or not isinstance(headers, dict):
            continue
        if headers.get("authorization") != f"Bearer {provider_api_key}":
            continue
        total += usage["prompt_tokens"] * INPUT_PER_MTOK // 1_000_000
        total += usage["completion_tokens"] * OUTPUT_PER_MTOK // 1_000_000
    return total
