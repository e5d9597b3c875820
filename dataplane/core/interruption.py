"""The usage event of an admitted request that never ends, because this process dies. Pure.

Before a request goes upstream, and then as it makes progress, the data plane
journals the event this module builds (http/inflight.py); recovery on the next
start emits the latest one of each request whose own event never got journaled
(usage/interrupted.py). It is `settle`'s event of the request as it stands,
flagged as cut off by the gateway:
- `http_status` 499 and `error_type = "dataplane_interrupted"` (the client got no
  complete answer from us; a stream may have been partly relayed);
- tokens estimated (`token_source = "estimated"`), priced like any estimate:
  the prompt by the tokenizer once counted (off the loop, `prompt_tokens`),
  until then ~4 characters a token; the completion as one token per SSE event
  relayed (OpenAI-style streams carry one token per chunk; a lower bound for
  others), never more than the request allowed; 0 for a non-stream (what the
  provider generated is unknown);
- the provider's own counts instead, when the stream already carried them;
- pass-through requests: metadata only, as when they finish;
- never prompt text, whatever the prompt-logging policy: the event is built on
  the event loop, and journaled often.
"""

from __future__ import annotations

from dataplane.core.admission import Admitted
from dataplane.core.chat_request import ChatRequest
from dataplane.core.estimate import Count
from dataplane.core.prompt_metadata import estimate_context_tokens
from dataplane.core.record import RequestRecord
from dataplane.core.settlement import settle
from dataplane.core.usage_extract import Usage
from oggy.contract.compile import CompiledProvider
from oggy.contract.routing import Target
from oggy.v1 import usage_pb2

INTERRUPTED = "dataplane_interrupted"
INTERRUPTED_STATUS = 499


def interrupted_event(
    rec: RequestRecord, now_mono: float, dataplane_id: str, prompt_tokens: int | None = None
) -> usage_pb2.UsageEvent:
    """The event of admitted request `rec` were it cut off at `now_mono` (perf_counter)."""
    verdict = rec.verdict
    assert type(verdict) is Admitted, "only an admitted request goes upstream"
    target = rec.served or _trying(rec, verdict)
    view = RequestRecord(
        rec.event_id, rec.request_id, rec.endpoint, rec.start_ns, rec.start_mono, rec.peer
    )
    view.verdict = verdict
    view.provider = target.provider.name
    view.model = target.model or rec.model
    view.served = target
    view.stream = rec.stream
    view.attempts = rec.attempts  # read only
    view.first_byte = rec.first_byte
    view.upstream_request_id = rec.upstream_request_id
    view.fail(INTERRUPTED_STATUS, INTERRUPTED)
    if rec.prompt is not None:
        view.prompt = rec.prompt.without_text()
    tap = rec.tap
    if tap is not None and tap.usage is not None:
        view.usage = tap.usage
    else:
        usage = _estimate(rec, verdict, prompt_tokens)
        if usage is not None:
            view.estimate = lambda _count: usage
    # The estimate is made already: `settle` is only told that it is one.
    return settle(view, now_mono, dataplane_id, _made_already)


def _made_already(_model: str) -> Count:
    return len


def _trying(rec: RequestRecord, verdict: Admitted) -> Target[CompiledProvider]:
    """The target being tried (`open_with_fallback` names it), else the first."""
    for target in verdict.targets:
        if target.provider.name == rec.provider and target.model == rec.model:
            return target
    return verdict.targets[0]


def _estimate(rec: RequestRecord, verdict: Admitted, prompt_tokens: int | None) -> Usage | None:
    req = verdict.request
    if not isinstance(req, ChatRequest):
        return None  # pass-through: no estimates (http/passthrough.py)
    if prompt_tokens is None:
        meta = rec.prompt.meta if rec.prompt is not None else None
        prompt_tokens = estimate_context_tokens(meta) if meta is not None else 0
    completion = rec.tap.events if rec.tap is not None else 0
    if req.max_output_tokens is not None:
        completion = min(completion, req.max_output_tokens)
    return Usage(prompt_tokens, completion, prompt_tokens + completion)
