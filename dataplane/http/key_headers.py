"""Where a client presents its gateway key.

OpenAI SDKs send `Authorization: Bearer <key>`, Anthropic SDKs `x-api-key: <key>`
and Azure OpenAI SDKs `api-key: <key>`; the first present, in that order, is the
key. The result is in `Authorization` form for core.auth.authenticate. The
value is never logged and never forwarded (upstream headers are an allowlist).
"""

from __future__ import annotations

from collections.abc import Mapping


def presented_authorization(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization")
    if auth:
        return auth
    for name in ("x-api-key", "api-key"):
        value = headers.get(name)
        if value:
            return "Bearer " + value.strip()
    return None
