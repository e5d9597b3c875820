"""Admitted requests in flight, journaled so that a crash of this process loses none of them.

A request the provider is serving costs money even if this process dies
(SIGKILL, OOM) before the request's usage event is journaled. So `metered`
hands each admitted request to `admitted` before a byte goes upstream: the
request's provisional event (core/interruption.py) is noted in the usage
journal (`UsageSink.note`) and awaited, like a final event before an answer.
Then, at most once a `interval_s`, one tick renews the note of each request
whose progress changed (its prompt counted, a fallback target tried, more of a
stream relayed); those notes are not awaited (the next tick, or the request's
own event, comes soon). A note costs a `settle` on the loop and a record in the
journal writer's thread (journal.py: no fsync of its own). When the request
settles, `settled` forgets it; its own event, with the same event id, is what
the journal pairs the notes with (usage/interrupted.py).

Prompt tokens are counted with the tokenizer off the loop, in one thread hop
per tick for every request still in flight then: requests that end within a
tick are never counted (their estimate, if a crash came first, is ~4
characters a token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import Count, prompt_tokens
from dataplane.core.interruption import interrupted_event
from dataplane.core.record import RequestRecord
from dataplane.tokens import counter_for_model
from dataplane.usage_sink import UsageSink

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 1.0

# model → its token counter; None when no tokenizer is known for it.
Counter = Callable[[str], Count | None]


@dataclass(slots=True)
class _Open:
    rec: RequestRecord
    prompt_tokens: int | None = None
    counted: bool = False  # tried: a model without a tokenizer stays uncounted
    noted: tuple[object, ...] = ()  # the progress its latest note was built at


class InFlight:
    def __init__(
        self,
        sink: UsageSink,
        dataplane_id: str,
        *,
        interval_s: float = PROGRESS_INTERVAL_S,
        counter: Counter = counter_for_model,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._sink = sink
        self._dataplane_id = dataplane_id
        self._interval = interval_s
        self._counter = counter
        self._clock = clock
        self._open: dict[str, _Open] = {}
        # Runs while requests are open (so no lifetime to wire): see `_ticks`.
        self._ticker: asyncio.Task[None] | None = None

    async def admitted(self, rec: RequestRecord) -> None:
        """Journal admitted `rec`'s provisional event; return once it is journaled."""
        entry = _Open(rec)
        self._open[rec.event_id] = entry
        journaled = self._note(entry)
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._ticks())
        if journaled is not None:
            await journaled

    def settled(self, rec: RequestRecord) -> None:
        """`rec`'s own event is being settled: no more notes for it."""
        self._open.pop(rec.event_id, None)

    async def close(self) -> None:
        """Stop ticking (app cleanup). Open requests keep their latest note."""
        ticker = self._ticker
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    def _note(self, entry: _Open) -> Awaitable[None] | None:
        entry.noted = _progress(entry)
        try:
            event = interrupted_event(
                entry.rec, self._clock(), self._dataplane_id, entry.prompt_tokens
            )
        except Exception:  # a bug must not fail the request; its own event still comes
            log.exception("usage note failed for request %s", entry.rec.request_id)
            return None
        return self._sink.note(event)

    async def _ticks(self) -> None:
        try:
            while self._open:
                await asyncio.sleep(self._interval)
                await self._count_prompts()
                for entry in list(self._open.values()):
                    if _progress(entry) != entry.noted:
                        self._note(entry)
        finally:
            self._ticker = None

    async def _count_prompts(self) -> None:
        todo = [e for e in self._open.values() if not e.counted]
        asks = []
        for entry in todo:
            entry.counted = True
            rec = entry.rec
            req = rec.verdict.request if rec.verdict is not None else None
            if isinstance(req, ChatRequest):
                model = rec.served.model if rec.served is not None else rec.model
                asks.append((entry, model, req.messages))
        if not asks:
            return
        try:
            counts = await asyncio.to_thread(
                _count, self._counter, [(model, messages) for _, model, messages in asks]
            )
        except Exception:
            log.exception("cannot count the prompts of requests in flight")
            return
        for (entry, _, _), n in zip(asks, counts, strict=True):
            entry.prompt_tokens = n


def _progress(entry: _Open) -> tuple[object, ...]:
    rec = entry.rec
    tap = rec.tap
    return (
        entry.prompt_tokens,
        len(rec.attempts),
        rec.provider,
        tap.events if tap is not None else -1,
        tap is not None and tap.usage is not None,
    )


def _count(counter: Counter, asks: list[tuple[str, object]]) -> list[int | None]:
    """(Worker thread) The prompt tokens of each (model, messages); None without a tokenizer."""
    out: list[int | None] = []
    for model, messages in asks:
        count = counter(model)
        out.append(prompt_tokens(messages, count) if count is not None else None)
    return out
