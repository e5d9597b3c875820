"""The data plane's one exception tree.

Everything that ends a request early raises a `GatewayError`; the data plane's
HTTP error mapper is the only place that turns one into a response (in the
caller's protocol: OpenAI's `{"error": {"message", "type", "param", "code"}}`
from `body()`, or Anthropic's), with the error's `headers` (e.g. `Retry-After`)
added, and the request handler records `code` as the usage event's
`error_type`. Messages are shown to callers, so they never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class GatewayError(Exception):
    """Base of the tree. A subclass states what differs from its base as class keywords
    (`class KeyRevoked(InvalidApiKey, code=..., message=...)`): the HTTP `status`, the
    OpenAI error `type`, the `code` and the `message` used when none is given."""

    status: int = 500
    code: str = "internal_error"
    type: str = "server_error"
    default_message: str = "The gateway failed to handle the request."
    # Response headers that go with the error (`Retry-After`, `x-ratelimit-*`).
    headers: Mapping[str, str] | None = None
    # The usage event's `policy_reason` when the error is a policy block and its
    # reason differs from `code` (a rate limit's code is OpenAI's).
    policy_reason: str = ""

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = None,
        message: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init_subclass__(**kw)
        stated = {"status": status, "type": type, "code": code, "default_message": message}
        for attr, value in stated.items():
            if value is not None:
                setattr(cls, attr, value)

    def __init__(
        self,
        message: str | None = None,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.param = param
        if headers is not None:
            self.headers = headers
        super().__init__(self.message)

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


# --- 400 ------------------------------------------------------------------------------
class InvalidRequest(
    GatewayError,
    status=400,
    code="invalid_request_error",
    type="invalid_request_error",
    message="The request is malformed.",
): ...


class InvalidJson(InvalidRequest, message="The request body is not valid JSON."): ...


class MaxTokensExceeded(
    InvalidRequest,
    code="max_tokens_exceeded",
    message="Requested output tokens exceed the policy's bound.",
): ...


# --- 401 ------------------------------------------------------------------------------
class InvalidApiKey(
    GatewayError,
    status=401,
    code="invalid_api_key",
    type="invalid_request_error",
    message="Missing or invalid gateway API key.",
):
    # The key record the caller named, when its id exists (for the usage event only).
    key_record: object | None = None


class KeyRevoked(
    InvalidApiKey, code="key_revoked", message="This gateway API key has been revoked."
): ...


class KeyExpired(
    InvalidApiKey, code="key_expired", message="This gateway API key has expired."
): ...


class ActorTokenRequired(
    GatewayError,
    status=401,
    code="actor_token_required",
    type="invalid_request_error",
    message="This key's policy requires a signed actor token (X-Oggy-Actor).",
): ...


class ActorTokenInvalid(
    GatewayError,
    status=401,
    code="actor_token_invalid",
    type="invalid_request_error",
    message="The actor token is invalid.",
):
    """The `X-Oggy-Actor` token proves no identity; `reason` is safe to show (never the token)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        suffix = f": {detail[:200]}" if detail else ""
        super().__init__(f"Invalid actor token ({reason}){suffix}.")


# --- 403 ------------------------------------------------------------------------------
class PermissionDenied(
    GatewayError,
    status=403,
    code="permission_denied",
    type="permission_error",
    message="The request is not allowed by policy.",
): ...


class ModelNotAllowed(
    PermissionDenied, code="model_not_allowed", message="The model is not allowed by policy."
): ...


class ClientIpNotAllowed(
    PermissionDenied,
    code="ip_not_allowed",
    message="The client address is not allowed by policy.",
): ...


class ActorDisabled(
    PermissionDenied,
    code="actor_disabled",
    message="The actor this key is bound to is disabled.",
): ...


class ProviderNotAllowed(
    PermissionDenied,
    code="provider_not_allowed",
    message="The provider serving this model is not allowed by policy.",
): ...


class ModelUnpriced(
    PermissionDenied,
    code="model_unpriced",
    message="The model has no price, so a hard budget that applies to it cannot hold.",
): ...


# --- 402, 429: quota --------------------------------------------------------------------
class BudgetExceeded(
    GatewayError,
    status=402,
    code="budget_exceeded",
    # 402, not 429: the official SDKs retry 429 by themselves, and a spent budget
    # does not come back within a retry.
    type="insufficient_quota",
    message="The budget for this request is spent.",
): ...


class RateLimited(
    GatewayError,
    status=429,
    code="rate_limit_exceeded",
    type="requests",  # OpenAI's: `requests` or `tokens`, set per limit
    message="Rate limit reached.",
):
    policy_reason = "rate_limited"

    def __init__(
        self, message: str, *, kind: str = "requests", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self.type = kind


# --- 404, 405, 413 ------------------------------------------------------------------------
class NotFound(
    GatewayError, status=404, code="not_found", type="invalid_request_error", message="Not found."
): ...


class ModelNotFound(
    NotFound,
    code="model_not_found",
    message="The model does not exist or no provider serves it.",
): ...


class MethodNotAllowed(
    GatewayError,
    status=405,
    code="method_not_allowed",
    type="invalid_request_error",
    message="Method not allowed.",
): ...


class RequestTooLarge(
    GatewayError,
    status=413,
    code="request_too_large",
    type="invalid_request_error",
    message="The request body is too large.",
): ...


class HeaderTooLarge(
    GatewayError,
    status=431,
    code="request_header_fields_too_large",
    type="invalid_request_error",
    message="A request line or header is too large.",
): ...


class ClientDisconnected(
    GatewayError,
    status=499,
    code="client_disconnected",
    type="invalid_request_error",
    message="The client closed the connection.",
):
    """The client went away before the gateway could answer (e.g. while sending its body).

    No one reads the response; the status is what the usage event records."""


# --- 5xx ------------------------------------------------------------------------------
class NotReady(
    GatewayError,
    status=503,
    code="not_ready",
    type="server_error",
    message="The gateway has no configuration yet.",
): ...


class ConfigStale(
    GatewayError,
    status=503,
    code="config_stale",
    type="server_error",
    message=(
        "The gateway has not heard from its control plane for longer than it may serve"
        " a configuration; try again later."
    ),
):
    """`--max-config-age` passed without word from a control plane: fail closed."""


class UpstreamUnavailable(
    GatewayError,
    status=502,
    code="upstream_unavailable",
    type="server_error",
    message="The upstream provider could not be reached.",
): ...


class UpstreamTimeout(
    GatewayError,
    status=504,
    code="upstream_timeout",
    type="server_error",
    message="The upstream provider did not respond in time.",
): ...
