"""Admission: may this request go upstream, as whom, and where to. Pure and synchronous.

`admit` is the one decision every endpoint takes (chat, completions, embeddings,
responses, messages, Azure deployments, pass-through `/v1/*`, `/v1/models`)
before a byte goes upstream; limits that need the caller and the model (budgets,
rate limits) belong here too. The checks run in this order, so a caller learns
nothing about a body or a model before it has proved who it is, and a denied
model is 403 whether or not it is served (permission before existence):

  key (`find_key`: secret, revoked, expired) → bound actor disabled → client
  address (X-Forwarded-For only from a trusted proxy; IP allowlist) → actor
  token required → actor token verified (memoised per token) → attribution (a
  workspace key used with a token gets the token actor's policies merged in) →
  labels and workflow, when the policy allows → the body (validated; a CAP
  policy lowers max tokens) → model policy → max tokens → where the request can
  go (404 when nowhere) → provider policy (fallbacks never reach a provider the
  policy does not allow).

The result is `Admitted` or `Refused`. A refusal carries the GatewayError the
client gets (its `code` becomes the usage event's `policy_reason` when it is a
policy reason) and whatever was known by then, so even a blocked request is
attributed. Time comes in as `now`; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import NamedTuple

from dataplane.core.auth import authenticate
from dataplane.core.chat_request import ChatRequest
from dataplane.core.passthrough import PassthroughRequest, prepare_passthrough
from oggy.contract import errors
from oggy.contract.compile import CompiledKey, CompiledProvider
from oggy.contract.dialects import OPENAI_FAMILY
from oggy.contract.identity import (
    ACTOR_HEADER,
    TAGS_HEADER,
    WORKFLOW_HEADER,
    Attribution,
    check_caller,
    parse_labels,
    parse_workflow,
)
from oggy.contract.policy import Decision, Deny, EffectivePolicy, permitted_targets
from oggy.contract.routing import Target

FORWARDED_FOR_HEADER = "X-Forwarded-For"
CONTENT_TYPE_HEADER = "Content-Type"
NO_HEADERS: Mapping[str, str] = MappingProxyType({})

# (raw body, model named by the path or None, max_tokens_cap=) → the prepared request.
Prepare = Callable[..., ChatRequest]
Requested = ChatRequest | PassthroughRequest


class Kind(Enum):
    MODEL = "model"  # the body names the model (Azure paths: the deployment does)
    PASSTHROUGH = "passthrough"  # any other `/v1/*` path, forwarded verbatim
    LISTING = "listing"  # `/v1/models`: no body; the models the policy allows


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What admission knows of an endpoint; one per route, built at startup."""

    path: str  # as recorded in usage events: `/v1/chat/completions`, `/v1/*`
    # The wire family of the providers that may serve it; also the caller's
    # protocol (error shape): `openai` or `anthropic`.
    family: str
    kind: Kind = Kind.MODEL
    prepare: Prepare | None = None  # MODEL endpoints only

    @property
    def reads_body(self) -> bool:
        return self.kind is not Kind.LISTING


class Ask(NamedTuple):
    """One request as admission reads it."""

    # The client's headers (X-Forwarded-For, X-Oggy-Actor, X-Oggy-Tags,
    # X-Oggy-Workflow, Content-Type are read, each only when it matters).
    headers: Mapping[str, str]
    peer: str  # the socket's address
    # The body, or why it could not be read (too large): refused at the body step.
    body: bytes | errors.GatewayError = b""
    path_model: str | None = None  # Azure: the deployment in the path names the model
    raw_path: str = ""  # pass-through: the path as sent, query included


class Admitted(NamedTuple):
    key: CompiledKey  # with the token actor's policies merged in, when a token applies
    attribution: Attribution
    client_ip: str
    labels: Mapping[str, str] | None
    shadow_reason: str  # what a shadow policy would have refused, recorded only
    model: str  # as the client named it; "" when it named none
    request: Requested | None  # None for listings
    # Where the request may go, in fallback order (listings: each allowed model).
    targets: tuple[Target[CompiledProvider], ...]
    headers: Mapping[str, str] = NO_HEADERS  # for the response

    @property
    def policy(self) -> EffectivePolicy:
        return self.key.policy


class Refused(NamedTuple):
    error: errors.GatewayError
    # What was known when the request was refused, for its usage event.
    key: CompiledKey | None  # the key the caller named, even when its secret was wrong
    attribution: Attribution | None  # None before the actor token was checked
    client_ip: str
    labels: Mapping[str, str] | None = None
    shadow_reason: str = ""
    model: str = ""
    request: Requested | None = None  # the prepared body, when it got that far
    body_read: bool = False  # the caller passed every identity check and sent a body

    @property
    def headers(self) -> Mapping[str, str]:
        return self.error.headers or NO_HEADERS


Verdict = Admitted | Refused


def find_key(
    keys: Mapping[str, CompiledKey], authorization: str | None, now: float
) -> CompiledKey | errors.InvalidApiKey:
    """The key an `Authorization` value names (constant-time), or why it does not count.

    Apart from `admit` so that a caller whose key is unknown never has its body read.
    """
    try:
        return authenticate(authorization, keys, now)
    except errors.InvalidApiKey as e:
        return e


def refuse_stale(found: CompiledKey | errors.InvalidApiKey, peer: str, age_s: float) -> Refused:
    """The data plane's config is past `--max-config-age`: nothing is admitted (fail closed).

    The caller's key, when it authenticated, still gets the refusal (and its event)
    attributed; nothing else about the request is judged against an outdated config.
    """
    key = found if isinstance(found, CompiledKey) else None
    error = errors.ConfigStale(
        f"The gateway has not heard from its control plane for {age_s:.0f} s, longer than"
        " it may serve a configuration; try again later."
    )
    return Refused(error, key, None, peer)


def admit(
    found: CompiledKey | errors.InvalidApiKey, ask: Ask, endpoint: Endpoint, now: float
) -> Verdict:
    """The verdict on one request (see the module docstring for the order of checks)."""
    if isinstance(found, errors.GatewayError):
        known = found.key_record if isinstance(found.key_record, CompiledKey) else None
        return Refused(found, known, None, ask.peer)
    key = found
    caller = _Caller(ask.peer)
    labels: Mapping[str, str] | None = None
    model = ""
    req: Requested | None = None
    body_read = False
    try:
        headers = ask.headers
        # The key carrying the policy that gates the rest: a workspace key used with an
        # actor token gets that actor's (and its teams') policies merged in.
        key = check_caller(
            key, caller, ask.peer, headers.get(FORWARDED_FOR_HEADER), headers.get(ACTOR_HEADER), now
        )
        policy = key.policy
        who = caller.who
        assert who is not None  # check_caller attributes every caller it lets through
        if policy.allow_labels:
            labels = parse_labels(headers.get(TAGS_HEADER)) or None
            if not who.workflow:  # a signed workflow beats the unsigned header
                workflow = parse_workflow(headers.get(WORKFLOW_HEADER))
                if workflow:
                    who = caller.who = Attribution(
                        who.actor, who.team, who.app, who.environment, workflow
                    )
        if endpoint.kind is Kind.LISTING:
            targets = _listing(key, policy)
        else:
            body = ask.body
            if isinstance(body, errors.GatewayError):
                raise body
            body_read = True
            if endpoint.kind is Kind.MODEL:
                assert endpoint.prepare is not None
                req = endpoint.prepare(body, ask.path_model, max_tokens_cap=policy.max_tokens_cap)
                model = req.model
                _allowed(_check_model(key, model), caller)
                _allowed(policy.check_max_tokens(req.requested_max_output_tokens), caller)
                targets = _model_targets(key, model, endpoint)
            else:
                content_type = headers.get(CONTENT_TYPE_HEADER) or ""
                req = prepare_passthrough(ask.raw_path, body, content_type)
                model = req.model or ""
                if model:
                    _allowed(_check_model(key, model), caller)
                targets = _passthrough_targets(key, model)
            # Fallbacks never reach a provider, or a model, the policy does not allow.
            model_of = target_model if model else None
            targets, decision = permitted_targets(policy, targets, provider_name, model_of)
            _allowed(decision, caller)
    except errors.GatewayError as e:
        return Refused(
            e, key, caller.who, caller.client_ip, labels, caller.shadow_reason, model, req,
            body_read,
        )  # fmt: skip
    return Admitted(key, who, caller.client_ip, labels, caller.shadow_reason, model, req, targets)


class _Caller:
    """What the caller checks learn, kept when one refuses (identity.CallerRecord)."""

    __slots__ = ("client_ip", "shadow_reason", "who")

    def __init__(self, peer: str) -> None:
        self.client_ip = peer
        self.who: Attribution | None = None
        self.shadow_reason = ""

    def set_attribution(self, who: Attribution) -> None:
        self.who = who

    def shadow(self, reason: str) -> None:
        # The first shadow refusal is the one recorded.
        self.shadow_reason = self.shadow_reason or reason


def _allowed(decision: Decision, caller: _Caller) -> None:
    """Raise a Deny's error; else record its shadow reason, if any."""
    if isinstance(decision, Deny):
        raise decision.error()
    if decision.shadow_reason:
        caller.shadow(decision.shadow_reason)


def _check_model(key: CompiledKey, model: str) -> Decision:
    """A route alias is judged by the models it resolves to, not by its own name."""
    return key.policy.check_any_model(key.workspace.routing.upstream_models(model))


def _model_targets(
    key: CompiledKey, model: str, endpoint: Endpoint
) -> tuple[Target[CompiledProvider], ...]:
    targets = key.workspace.targets(model, endpoint.family)
    if not targets:
        raise errors.ModelNotFound(
            f"The model {model!r} does not exist or is not served in this workspace"
            f" for {endpoint.path}.",
            param="model",
        )
    return targets


def _passthrough_targets(key: CompiledKey, model: str) -> tuple[Target[CompiledProvider], ...]:
    """The providers serving the body's model verbatim; without one, the first that can."""
    workspace = key.workspace
    if model:
        targets = tuple(
            t for t in workspace.targets(model, OPENAI_FAMILY) if t.provider.dialect.passthrough
        )
        if not targets:
            raise errors.ModelNotFound(
                f"The model {model!r} is not served by an OpenAI provider here.", param="model"
            )
        return targets
    provider = workspace.first_passthrough()
    if provider is None:
        raise errors.NotFound("No OpenAI provider in this workspace serves this path.")
    return (Target(provider, ""),)


def _listing(key: CompiledKey, policy: EffectivePolicy) -> tuple[Target[CompiledProvider], ...]:
    """The workspace's concrete models (no globs: no finite list) the policy allows."""
    return tuple(
        Target(provider, model)
        for model, provider in key.workspace.models
        if not isinstance(_check_model(key, model), Deny)
    )


def provider_name(target: Target[CompiledProvider]) -> str:
    return target.provider.name


def target_model(target: Target[CompiledProvider]) -> str:
    return target.model
