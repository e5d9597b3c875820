"""One workspace's provider credentials → CompiledProviders (URL, auth headers, family).

A provider of a kind this data plane does not know is skipped with a warning
(a newer control plane may know it); everything else wrong with a provider is
a ConfigError. Messages never carry the API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from yarl import URL

from oggy.contract.compile import refs
from oggy.contract.compile.model import CompiledProvider, CompileWarning, ConfigError
from oggy.contract.dialects import OPENAI_FAMILY, UpstreamTarget, dialect_for
from oggy.contract.globs import GlobError, compile_globs
from oggy.contract.names import Collection
from oggy.contract.timeouts import TimeoutsError, provider_timeouts
from oggy.v1 import provider_pb2, snapshot_pb2

_FORBIDDEN_IN_KEY = "\r\n\0 \t"


def compile_providers(
    workspace: str,
    materials: Sequence[snapshot_pb2.ProviderMaterial],
    warnings: list[CompileWarning],
) -> tuple[CompiledProvider, ...]:
    """The providers served, sorted by resource name (so implicit fallback chains are
    stable across snapshots)."""
    out: list[CompiledProvider] = []
    seen: set[str] = set()
    for material in sorted(materials, key=lambda m: m.provider.name):
        p = material.provider
        refs.child(p.name, Collection.PROVIDERS, "provider name")
        if p.name in seen:
            raise ConfigError(f"provider {p.name} appears twice")
        seen.add(p.name)
        compiled = _compile(workspace, material, warnings)
        if compiled is not None:
            out.append(compiled)
    return tuple(out)


def _compile(
    workspace: str, material: snapshot_pb2.ProviderMaterial, warnings: list[CompileWarning]
) -> CompiledProvider | None:
    p = material.provider
    base_url = _base_url(p.name, p.base_url)
    for m in p.models:
        try:
            compile_globs([m])
        except GlobError as e:
            raise ConfigError(f"provider {p.name}: {e}") from e
    api_key = material.api_key
    if api_key and (api_key != api_key.strip() or any(c in api_key for c in _FORBIDDEN_IN_KEY)):
        raise ConfigError(f"provider {p.name}: api_key contains whitespace or control chars")
    try:
        timeouts = provider_timeouts(p)
    except TimeoutsError as e:
        raise ConfigError(f"provider {p.name}: {e}") from None
    dialect = dialect_for(p.kind)
    if dialect is None:
        warnings.append(CompileWarning(p.name, f"kind {p.kind} is unknown; not routed"))
        return None
    if dialect.family != OPENAI_FAMILY:
        kind = provider_pb2.ProviderCredential.Kind.Name(p.kind)
        warnings.append(
            CompileWarning(
                p.name,
                f"kind {kind} serves only its native API (/v1/messages);"
                " no translation from OpenAI endpoints",
            )
        )
    target = UpstreamTarget(base_url, p.api_version, MappingProxyType(dict(p.deployments)))
    return CompiledProvider(
        name=p.name,
        workspace=workspace,
        kind=p.kind,
        base_url=base_url,
        chat_url=URL(dialect.url(target, "chat/completions", ""), encoded=True),
        models=tuple(p.models),
        authorization=f"Bearer {api_key}" if api_key else None,
        dialect=dialect,
        auth_headers=MappingProxyType(dialect.auth_headers(api_key)),
        target=target,
        timeouts=timeouts,
    )


def _base_url(name: str, raw: str) -> str:
    # The URL itself is never quoted: userinfo or a query may hold a credential, and this
    # message reaches admin API callers, logs and the fleet status.
    if not raw:
        raise ConfigError(f"provider {name}: base_url is empty")
    try:
        url = URL(raw)
    except (ValueError, TypeError):
        raise ConfigError(f"provider {name}: base_url does not parse as a URL") from None
    if url.user or url.password:
        raise ConfigError(f"provider {name}: base_url must not carry credentials")
    if url.query_string or url.fragment:
        raise ConfigError(f"provider {name}: base_url must not have a query or fragment")
    if url.scheme not in ("http", "https"):
        raise ConfigError(f"provider {name}: base_url must be http:// or https://")
    if not url.host:
        raise ConfigError(f"provider {name}: base_url has no host")
    try:
        url.port  # noqa: B018 - raises on an out-of-range port
    except ValueError:
        raise ConfigError(f"provider {name}: base_url has a port out of range") from None
    return str(url).rstrip("/")
