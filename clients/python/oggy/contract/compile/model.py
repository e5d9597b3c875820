"""What the compiler produces: the indexes the hot path reads, and how it says no.

Everything here is built once per config change and read per request; a
request does a dict lookup for its key id and memoised lookups below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from yarl import URL

from oggy.contract.dialects import Dialect, UpstreamTarget
from oggy.contract.identity import ActorEntry, WorkspaceIdentity
from oggy.contract.policy import EffectivePolicy
from oggy.contract.price_book import PriceBook
from oggy.contract.prompt_logging import DEFAULT_PROMPT_LOGGING, PromptLoggingPolicy
from oggy.contract.routing import Router, RoutingTable, Target
from oggy.contract.timeouts import NO_TIMEOUTS, UpstreamTimeouts

if TYPE_CHECKING:  # compile/quota.py imports ConfigError from here
    from oggy.contract.compile.quota import QuotaRules

# Memoised upstream URLs per provider, per (operation, model).
_URL_CACHE_SIZE = 1024


class ConfigError(ValueError):
    """The snapshot (or one workspace of it) cannot be served; the message says which
    resource and why, never a secret."""


@dataclass(frozen=True, slots=True)
class CompileWarning:
    """Something served partially or ignored: which resource, and why (never a secret)."""

    resource: str
    reason: str

    def __str__(self) -> str:
        return f"{self.resource}: {self.reason}"


@dataclass(frozen=True, slots=True, eq=False)
class CompiledProvider:
    name: str
    workspace: str
    kind: int
    base_url: str
    chat_url: URL
    models: tuple[str, ...]
    # Ready-made `Bearer <api key>` header value, None when the provider needs none.
    authorization: str | None = field(repr=False)
    # URL, auth and price-catalog kind of this provider kind (oggy.contract.dialects).
    dialect: Dialect = field(default=None, repr=False)  # type: ignore[assignment]
    # The headers carrying the provider key (`Authorization`, `api-key`, `x-api-key`).
    auth_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    target: UpstreamTarget = field(default=None, repr=False)  # type: ignore[assignment]
    # What differs from the data plane's default upstream timeouts.
    timeouts: UpstreamTimeouts = NO_TIMEOUTS
    _urls: dict[tuple[str, str], URL] = field(default_factory=dict, repr=False)

    @property
    def family(self) -> str:
        return self.dialect.family

    @property
    def kind_name(self) -> str:
        """The provider kind as the price catalog names it (`openai`, `azure_openai`, ...)."""
        return self.dialect.kind

    def url(self, op: str, model: str) -> URL:
        """The upstream URL of operation `op` (`chat/completions`, `messages`) for `model`."""
        key = (op, model)
        found = self._urls.get(key)
        if found is None:
            found = URL(self.dialect.url(self.target, op, model), encoded=True)
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[key] = found
        return found

    def __repr__(self) -> str:
        return f"CompiledProvider(name={self.name!r}, base_url={self.base_url!r})"


@dataclass(frozen=True, slots=True)
class CompiledWorkspace:
    name: str
    providers: tuple[CompiledProvider, ...]
    # OpenAI-wire providers by model (routes aside); `routing` is what requests use.
    router: Router[CompiledProvider]
    # Concrete model names (no globs) and route aliases for /v1/models, sorted.
    models: tuple[tuple[str, CompiledProvider], ...]
    routing: RoutingTable[CompiledProvider] = field(default=None, repr=False)  # type: ignore[assignment]
    prices: PriceBook = field(default=None, repr=False)  # type: ignore[assignment]
    # Limits and budgets (compile/quota.py).
    quota: QuotaRules = field(default=None, repr=False)  # type: ignore[assignment]

    def targets(self, model: str, family: str) -> tuple[Target[CompiledProvider], ...]:
        """Where a request for `model` on an endpoint of wire `family` goes, in order."""
        return self.routing.resolve(model, family)

    def first_passthrough(self) -> CompiledProvider | None:
        """The provider for an OpenAI path whose body names no model."""
        for p in self.providers:
            if p.dialect.passthrough:
                return p
        return None


@dataclass(frozen=True, slots=True)
class MergedPolicies:
    """A set of policies merged: what enforces requests and what logs their prompts.

    Both come from exactly the same policies (`names`, sorted), so the prompt
    text kept is decided by the very policies whose enforcement applies.
    """

    names: tuple[str, ...]
    policy: EffectivePolicy
    prompt_logging: PromptLoggingPolicy


@dataclass(frozen=True, slots=True)
class CompiledKey:
    name: str
    key_id: str
    workspace: CompiledWorkspace
    display_name: str
    actor: str
    environment: str
    revoked: bool
    expire_s: float | None
    secret_sha256: bytes = field(repr=False)
    policy: EffectivePolicy = field(repr=False)
    actor_disabled: bool = False
    # Prompt logging mode, retention and the compiled Redactor (contract/prompt_logging.py).
    prompt_logging: PromptLoggingPolicy = field(default=DEFAULT_PROMPT_LOGGING, repr=False)
    # Rotation: the secret from before the last rotation works until `previous_expire_s`.
    previous_secret_sha256: bytes | None = field(default=None, repr=False)
    previous_expire_s: float | None = None
    # The workspace's actors and actor-token verifiers; the key's bound actor, if any.
    identity: WorkspaceIdentity = field(default=None, repr=False)  # type: ignore[assignment]
    bound_actor: ActorEntry | None = field(default=None, repr=False)
    # Names of the policies merged into `policy` (sorted), for merging in a token's actor.
    policy_names: tuple[str, ...] = ()

    @property
    def workspace_name(self) -> str:
        return self.workspace.name


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    revision: int
    keys_by_id: Mapping[str, CompiledKey]
    workspaces: Mapping[str, CompiledWorkspace]
    # Per workspace: actors by name and id, actor-token verifiers.
    identities: Mapping[str, WorkspaceIdentity] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # Things served partially or ignored (a provider kind not routed, a dangling
    # route target, a model routed twice), in workspace order.
    compile_warnings: tuple[CompileWarning, ...] = ()

    @property
    def warnings(self) -> tuple[str, ...]:
        """`compile_warnings` as text: `<resource>: <reason>`."""
        return tuple(str(w) for w in self.compile_warnings)
