"""Provider kinds: how each is reached (URL, auth headers, forwarded headers) and which
wire family it speaks. Pure; the data plane's wire formats (dataplane/providers/) read
the bodies, this module only says where they go.

OpenAI, OpenAI-compatible and Azure OpenAI share the OpenAI wire family and differ in
URL and auth; Anthropic speaks its own. Azure: `{base}/openai/deployments/{deployment}
/{op}?api-version={v}` (the deployment is the credential's mapping for the model, else
the model itself; the Responses API is `{base}/openai/responses?api-version=v`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from oggy.v1 import provider_pb2

# Wire families: which endpoints a provider can serve without translation.
OPENAI_FAMILY = "openai"
ANTHROPIC_FAMILY = "anthropic"

OPENAI_FORWARD_HEADERS = ("Accept", "OpenAI-Beta", "User-Agent")
ANTHROPIC_FORWARD_HEADERS = ("Accept", "User-Agent", "anthropic-version", "anthropic-beta")
ANTHROPIC_DEFAULT_VERSION = "2023-06-01"
AZURE_DEFAULT_API_VERSION = "2024-10-21"


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """Compile-time facts a Dialect needs to build a URL (a CompiledProvider has them)."""

    base_url: str
    api_version: str = ""
    deployments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Dialect:
    # The provider kind as the price catalog names it (`openai_compatible`, `azure_openai`).
    kind: str
    family: str
    # (target, operation such as `chat/completions`, model) → absolute URL text.
    url: Callable[[UpstreamTarget, str, str], str]
    # The provider's API key → the headers that carry it (built once per config).
    auth_headers: Callable[[str], dict[str, str]]
    # Client headers worth forwarding (everything else is dropped).
    forward_headers: tuple[str, ...]
    # Headers added when the client did not send them.
    default_headers: tuple[tuple[str, str], ...] = ()
    # Serves arbitrary `/v1/*` paths verbatim (the OpenAI API surface).
    passthrough: bool = False


def join_url(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def _openai_url(target: UpstreamTarget, op: str, model: str) -> str:
    return join_url(target.base_url, op)


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def azure_deployment(target: UpstreamTarget, model: str) -> str:
    return target.deployments.get(model) or model


def _azure_url(target: UpstreamTarget, op: str, model: str) -> str:
    base = target.base_url.rstrip("/")
    if base.endswith("/openai"):
        base = base[: -len("/openai")]
    version = quote(target.api_version or AZURE_DEFAULT_API_VERSION, safe="")
    if op == "responses":
        return f"{base}/openai/responses?api-version={version}"
    # The model may come from a client: it must stay one path segment.
    deployment = quote(azure_deployment(target, model), safe="")
    if deployment in (".", ".."):
        deployment = deployment.replace(".", "%2E")
    return f"{base}/openai/deployments/{deployment}/{op}?api-version={version}"


def _azure_auth(api_key: str) -> dict[str, str]:
    return {"api-key": api_key} if api_key else {}


def _anthropic_url(target: UpstreamTarget, op: str, model: str) -> str:
    base = target.base_url.rstrip("/")
    # Both `https://api.anthropic.com` and `https://api.anthropic.com/v1` are common.
    return f"{base}/{op}" if base.endswith("/v1") else f"{base}/v1/{op}"


def _anthropic_auth(api_key: str) -> dict[str, str]:
    return {"x-api-key": api_key} if api_key else {}


OPENAI = Dialect(
    "openai", OPENAI_FAMILY, _openai_url, _bearer, OPENAI_FORWARD_HEADERS, passthrough=True
)
OPENAI_COMPATIBLE = Dialect(
    "openai_compatible",
    OPENAI_FAMILY,
    _openai_url,
    _bearer,
    OPENAI_FORWARD_HEADERS,
    passthrough=True,
)
AZURE = Dialect("azure_openai", OPENAI_FAMILY, _azure_url, _azure_auth, OPENAI_FORWARD_HEADERS)
ANTHROPIC = Dialect(
    "anthropic",
    ANTHROPIC_FAMILY,
    _anthropic_url,
    _anthropic_auth,
    ANTHROPIC_FORWARD_HEADERS,
    default_headers=(("anthropic-version", ANTHROPIC_DEFAULT_VERSION),),
)

_Kind = provider_pb2.ProviderCredential
DIALECTS: Mapping[int, Dialect] = {
    _Kind.KIND_UNSPECIFIED: OPENAI_COMPATIBLE,
    _Kind.KIND_OPENAI: OPENAI,
    _Kind.KIND_OPENAI_COMPATIBLE: OPENAI_COMPATIBLE,
    _Kind.KIND_AZURE_OPENAI: AZURE,
    _Kind.KIND_ANTHROPIC: ANTHROPIC,
}


def dialect_for(kind: int) -> Dialect | None:
    return DIALECTS.get(kind)
