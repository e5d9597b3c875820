"""Azure OpenAI: the OpenAI wire formats behind deployment URLs and an `api-key` header.

`{base}/openai/deployments/{deployment}/{op}?api-version={v}`; the deployment
is the credential's mapping for the model, else the model name itself. The
Responses API is not per deployment: `{base}/openai/responses?api-version=v`.
A base URL given with a trailing `/openai` is accepted too.
"""

from __future__ import annotations

from urllib.parse import quote

from dataplane.providers.base import OPENAI_FAMILY, Dialect, UpstreamTarget
from dataplane.providers.openai import FORWARD_HEADERS

DEFAULT_API_VERSION = "2024-10-21"


def deployment_for(target: UpstreamTarget, model: str) -> str:
    return target.deployments.get(model) or model


def url(target: UpstreamTarget, op: str, model: str) -> str:
    base = target.base_url.rstrip("/")
    if base.endswith("/openai"):
        base = base[: -len("/openai")]
    version = quote(target.api_version or DEFAULT_API_VERSION, safe="")
    if op == "responses":
        return f"{base}/openai/responses?api-version={version}"
    # The model may come from a client: it must stay one path segment.
    deployment = quote(deployment_for(target, model), safe="")
    if deployment in (".", ".."):
        deployment = deployment.replace(".", "%2E")
    return f"{base}/openai/deployments/{deployment}/{op}?api-version={version}"


def auth_headers(api_key: str) -> dict[str, str]:
    return {"api-key": api_key} if api_key else {}


AZURE = Dialect("azure_openai", OPENAI_FAMILY, url, auth_headers, FORWARD_HEADERS)
