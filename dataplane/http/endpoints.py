"""The model endpoints the data plane serves, as EndpointSpecs for the proxy pipeline.

OpenAI SDK paths (`base_url = <gateway>/v1`), the Anthropic SDK's
(`base_url = <gateway>`, so `/v1/messages`) and Azure OpenAI SDK paths
(`azure_endpoint = <gateway>`: `/openai/deployments/{deployment}/{op}`, the
deployment being the requested model; the client's `api-version` is not used —
the credential's is).
"""

from __future__ import annotations

from dataplane.core.chat_request import (
    prepare_chat,
    prepare_completions,
    prepare_embeddings,
    prepare_messages,
    prepare_responses,
)
from dataplane.http.proxy import EndpointSpec
from dataplane.providers import anthropic, openai

CHAT = EndpointSpec(
    "/v1/chat/completions", "chat/completions", openai.CHAT, prepare_chat, hides_usage_chunk=True
)
COMPLETIONS = EndpointSpec(
    "/v1/completions",
    "completions",
    openai.COMPLETIONS,
    prepare_completions,
    hides_usage_chunk=True,
)
EMBEDDINGS = EndpointSpec("/v1/embeddings", "embeddings", openai.EMBEDDINGS, prepare_embeddings)
RESPONSES = EndpointSpec("/v1/responses", "responses", openai.RESPONSES, prepare_responses)
MESSAGES = EndpointSpec("/v1/messages", "messages", anthropic.MESSAGES, prepare_messages)

# Gateway path → spec.
OPENAI_PATHS = {spec.endpoint: spec for spec in (CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES)}
ANTHROPIC_PATHS = {MESSAGES.endpoint: MESSAGES}
# Azure-style paths: `/openai/deployments/{deployment}/<op>` → spec.
DEPLOYMENT_KEY = "deployment"
AZURE_DEPLOYMENT_OPS = {spec.op: spec for spec in (CHAT, COMPLETIONS, EMBEDDINGS)}
AZURE_RESPONSES_PATH = "/openai/responses"
