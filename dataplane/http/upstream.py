"""The one shared upstream HTTP client and the header hygiene around it.

One `ClientSession` for the whole process (connection pooling and keep-alive
across requests and workspaces). Redirects are never followed, proxies from
the environment are ignored and cookies are never stored, so nothing a
provider returns can steer a later request. The destination is always built
from the credential (its base URL, via its provider module); the client's
headers are dropped except the provider's allowlist, and the provider's key
travels in the provider's own auth header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from dataplane.core import errors

# Client headers that are safe and useful to forward upstream.
FORWARD_REQUEST_HEADERS = ("Accept", "OpenAI-Beta", "User-Agent")
# Upstream response headers passed back to the client; anything else (cookies,
# the provider's organization, hop-by-hop headers, encodings) stays here.
FORWARD_RESPONSE_HEADERS = frozenset(
    {
        "content-type",
        "openai-processing-ms",
        "openai-version",
        "retry-after",
        "retry-after-ms",
    }
)
RATE_LIMIT_PREFIX = "x-ratelimit-"


class Upstream:
    """Owns the ClientSession; `start`/`close` bracket its lifetime (app cleanup_ctx)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        first_byte_timeout_s: float,
        pool_limit: int = 1000,
        keepalive_timeout_s: float = 30.0,
    ) -> None:
        self.first_byte_timeout_s = first_byte_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._pool_limit = pool_limit
        self._keepalive_timeout_s = keepalive_timeout_s
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool_limit,
            keepalive_timeout=self._keepalive_timeout_s,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Only the TCP connect is bounded here; first byte and idle gaps are
            # bounded per request (they differ between streams and non-streams).
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(
        self, url: URL, headers: Mapping[str, str], payload: bytes | None, method: str = "POST"
    ) -> aiohttp.ClientResponse:
        """Send and wait for the response headers; the caller must release the response.

        Raises UpstreamUnavailable (connect failure) or UpstreamTimeout (no
        headers within the first-byte timeout).
        """
        session = self._session
        if session is None:
            raise errors.UpstreamUnavailable("The upstream client is not running.")
        try:
            async with asyncio.timeout(self.first_byte_timeout_s):
                return await session.request(
                    method, url, data=payload, headers=headers, allow_redirects=False
                )
        except aiohttp.ConnectionTimeoutError:
            raise errors.UpstreamUnavailable(
                "Timed out connecting to the upstream provider."
            ) from None
        except TimeoutError:
            raise errors.UpstreamTimeout() from None
        except aiohttp.ClientError as e:
            # The class name says what failed (connector, DNS, reset) without the URL.
            raise errors.UpstreamUnavailable(
                f"The upstream provider could not be reached ({type(e).__name__})."
            ) from None


def request_headers(client: Mapping[str, str], authorization: str | None) -> dict[str, str]:
    auth = {"Authorization": authorization} if authorization is not None else {}
    return upstream_headers(client, auth)


def upstream_headers(
    client: Mapping[str, str],
    auth: Mapping[str, str],
    forward: Iterable[str] = FORWARD_REQUEST_HEADERS,
    defaults: Iterable[tuple[str, str]] = (),
    content_type: str | None = "application/json",
) -> dict[str, str]:
    """Headers for the upstream request: allowlisted client headers, the provider's auth."""
    headers = {"Accept-Encoding": "identity"}
    if content_type:
        headers["Content-Type"] = content_type
    for name in forward:
        v = client.get(name)
        if v is not None:
            headers[name] = v
    for name, value in defaults:
        if name not in headers:
            headers[name] = value
    headers.update(auth)
    return headers


def response_headers(upstream: Mapping[str, str], request_id: str) -> CIMultiDict[str]:
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        lname = name.lower()
        if lname in FORWARD_RESPONSE_HEADERS or lname.startswith(RATE_LIMIT_PREFIX):
            out.add(name, value)
    out["X-Request-Id"] = request_id
    return out
