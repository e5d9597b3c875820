"""The model endpoints the data plane serves, as EndpointSpecs for the proxy pipeline.

OpenAI SDK paths (`base_url = <gateway>/v1`), the Anthropic SDK's
(`base_url = <gateway>`, so `/v1/messages`) and Azure OpenAI SDK paths
(`azure_endpoint = <gateway>`: `/openai/deployments/{deployment}/{op}`, the
deployment being the requested model; the client's `api-version` is not used —
the credential's is).
"""

from __future__ import annotations

from dataplane.core.admission import Endpoint, Kind, Prepare
from dataplane.core.chat_request import (
    prepare_chat,
    prepare_completions,
    prepare_embeddings,
    prepare_messages,
    prepare_responses,
)
from dataplane.http.proxy import EndpointSpec
from dataplane.providers import WireFormat, anthropic, openai
from oggy.contract.dialects import OPENAI_FAMILY


def _spec(
    path: str, op: str, wire: WireFormat, prepare: Prepare, hides_usage_chunk: bool = False
) -> EndpointSpec:
    return EndpointSpec(Endpoint(path, wire.family, prepare=prepare), op, wire, hides_usage_chunk)


CHAT = _spec(
    "/v1/chat/completions", "chat/completions", openai.CHAT, prepare_chat, hides_usage_chunk=True
)
COMPLETIONS = _spec("/v1/completions", "completions", openai.COMPLETIONS, prepare_completions, True)
EMBEDDINGS = _spec("/v1/embeddings", "embeddings", openai.EMBEDDINGS, prepare_embeddings)
RESPONSES = _spec("/v1/responses", "responses", openai.RESPONSES, prepare_responses)
MESSAGES = _spec("/v1/messages", "messages", anthropic.MESSAGES, prepare_messages)

# Gateway path → spec.
OPENAI_PATHS = {spec.endpoint.path: spec for spec in (CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES)}
ANTHROPIC_PATHS = {MESSAGES.endpoint.path: MESSAGES}
# Azure-style paths: `/openai/deployments/{deployment}/<op>` → spec.
DEPLOYMENT_KEY = "deployment"
AZURE_DEPLOYMENT_OPS = {spec.op: spec for spec in (CHAT, COMPLETIONS, EMBEDDINGS)}
AZURE_RESPONSES_PATH = "/openai/responses"
# `GET /v1/models`, and every other `/v1/*` path, passed through (recorded as `/v1/*`:
# the path itself is unbounded).
MODELS = Endpoint("/v1/models", OPENAI_FAMILY, Kind.LISTING)
PASSTHROUGH = Endpoint("/v1/*", OPENAI_FAMILY, Kind.PASSTHROUGH)
