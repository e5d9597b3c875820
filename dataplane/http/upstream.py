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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from dataplane.core.admission import NO_HEADERS
from dataplane.core.trace import REQUEST_ID_HEADER
from oggy.contract import errors
from oggy.contract.timeouts import NO_TIMEOUTS, UpstreamTimeouts

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
# Sent when the client sent no User-Agent (aiohttp would otherwise add its own).
DEFAULT_USER_AGENT = "oggy-dataplane"


class Upstream:
    """Owns the ClientSession; `start`/`close` bracket its lifetime (app cleanup_ctx)."""

    def __init__(
        self,
        *,
        connect_timeout_s: float,
        first_byte_timeout_s: float,
        idle_timeout_s: float | None = None,
        pool_limit: int = 1000,
        keepalive_timeout_s: float = 30.0,
    ) -> None:
        idle = first_byte_timeout_s if idle_timeout_s is None else idle_timeout_s
        # A provider's own timeouts (CompiledProvider.timeouts) override these.
        self.defaults = UpstreamTimeouts(connect_timeout_s, first_byte_timeout_s, idle)
        self._pool_limit = pool_limit
        self._keepalive_timeout_s = keepalive_timeout_s
        self._session: aiohttp.ClientSession | None = None
        # Per distinct provider timeouts: what `open` waits with (built on first use).
        self._plans: dict[UpstreamTimeouts, _Plan] = {}

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool_limit,
            keepalive_timeout=self._keepalive_timeout_s,
            ttl_dns_cache=60,
        )
        d = self.defaults
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=d.connect_s, sock_read=d.idle_s),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            raise_for_status=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _plan(self, timeouts: UpstreamTimeouts) -> _Plan:
        plan = self._plans.get(timeouts)
        if plan is None:
            t = timeouts.over(self.defaults)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            plan = self._plans[timeouts] = _Plan(
                aiohttp.ClientTimeout(
                    total=None, sock_connect=t.connect_s, sock_read=t.first_byte_s
                ),
                None if t.idle_s == t.first_byte_s else t.idle_s,
            )
        return plan

    async def open(
        self,
        url: URL,
        headers: Mapping[str, str],
        payload: bytes | None,
        method: str = "POST",
        timeouts: UpstreamTimeouts = NO_TIMEOUTS,
    ) -> aiohttp.ClientResponse:
        """Send and wait for the response headers; the caller must release the response.

        `timeouts`: the provider's, over this client's defaults. Raises
        UpstreamUnavailable (connect failure) or UpstreamTimeout (no headers
        within the first-byte timeout).
        """
        session = self._session
        if session is None:
            raise errors.UpstreamUnavailable("The upstream client is not running.")
        plan = self._plan(timeouts)
        try:
            resp = await session.request(
                method,
                url,
                data=payload,
                headers=headers,
                allow_redirects=False,
                timeout=plan.timeout,
            )
            conn = resp.connection
            if plan.idle_s is not None and conn is not None and conn.protocol is not None:
                # From now on the body's idle bound, counted from the headers.
                conn.protocol.read_timeout = plan.idle_s
                conn.protocol.start_timeout()
            return resp
        except aiohttp.ConnectionTimeoutError:
            raise errors.UpstreamUnavailable(
                "Timed out connecting to the upstream provider."
            ) from None
        except TimeoutError:  # sock_read: no response headers in time
            raise errors.UpstreamTimeout() from None
        except aiohttp.ClientError as e:
            # The class name says what failed (connector, DNS, reset) without the URL.
            raise errors.UpstreamUnavailable(
                f"The upstream provider could not be reached ({type(e).__name__})."
            ) from None


# aiohttp's sock_read restarts on every read from the socket: it bounds the wait
# for the response headers and every gap between body chunks, with one timer the
# protocol already keeps (no asyncio.timeout per request or chunk). The headers
# wait with the first-byte timeout; when the idle one differs, it is set on the
# connection once the headers are in.
@dataclass(frozen=True, slots=True)
class _Plan:
    timeout: aiohttp.ClientTimeout  # connect, and sock_read = first byte
    idle_s: float | None  # None: the same as the first-byte timeout


# Distinct timeout sets in use (a handful); cleared if configs churn through more.
_MAX_PLANS = 256


def request_headers(client: Mapping[str, str], authorization: str | None) -> CIMultiDict[str]:
    auth = {"Authorization": authorization} if authorization is not None else {}
    return upstream_headers(client, auth)


class HeaderTemplate:
    """The fixed part of one provider's upstream headers, built once (per provider).

    Per request only the allowlisted client headers are looked up and set on a
    copy; the result is the ready CIMultiDict aiohttp takes without converting.
    """

    __slots__ = ("_auth", "_base", "_forward")

    def __init__(
        self,
        auth: Mapping[str, str],
        forward: Iterable[str] = FORWARD_REQUEST_HEADERS,
        defaults: Iterable[tuple[str, str]] = (),
        content_type: str | None = "application/json",
    ) -> None:
        base: CIMultiDict[str] = CIMultiDict()
        base["Accept-Encoding"] = "identity"
        if content_type:
            base["Content-Type"] = content_type
        base["User-Agent"] = DEFAULT_USER_AGENT
        for name, value in defaults:
            base[name] = value
        base.update(auth)
        self._base = base
        names = CIMultiDict((name, None) for name in auth)
        # The provider's auth always wins over a client header of the same name.
        self._forward = tuple(name for name in forward if name not in names)

    def build(
        self, client: Mapping[str, str], extra: Iterable[tuple[str, str]] = ()
    ) -> CIMultiDict[str]:
        """`extra`: headers vetted per request (the client's valid trace context)."""
        headers = self._base.copy()
        get = client.get
        for name in self._forward:
            v = get(name)
            if v is not None:
                headers[name] = v
        for name, value in extra:
            headers[name] = value
        return headers


def upstream_headers(
    client: Mapping[str, str],
    auth: Mapping[str, str],
    forward: Iterable[str] = FORWARD_REQUEST_HEADERS,
    defaults: Iterable[tuple[str, str]] = (),
    content_type: str | None = "application/json",
    extra: Iterable[tuple[str, str]] = (),
) -> CIMultiDict[str]:
    """Headers for the upstream request: allowlisted client headers, the provider's auth."""
    return HeaderTemplate(auth, forward, defaults, content_type).build(client, extra)


# Templates of the providers in use, by identity (a new config brings new providers).
_templates: dict[int, tuple[Any, HeaderTemplate]] = {}
_MAX_TEMPLATES = 4096


def provider_headers(
    provider: Any, client: Mapping[str, str], extra: Iterable[tuple[str, str]] = ()
) -> CIMultiDict[str]:
    """`upstream_headers` for a CompiledProvider, its fixed part built once."""
    found = _templates.get(id(provider))
    if found is None or found[0] is not provider:
        if len(_templates) >= _MAX_TEMPLATES:
            _templates.clear()
        d = provider.dialect
        found = (
            provider,
            HeaderTemplate(provider.auth_headers, d.forward_headers, d.default_headers),
        )
        _templates[id(provider)] = found
    return found[1].build(client, extra)


def response_headers(
    upstream: Mapping[str, str], request_id: str, own: Mapping[str, str] = NO_HEADERS
) -> CIMultiDict[str]:
    """The provider's passable headers, then the gateway's own (`own`: admission's)."""
    out: CIMultiDict[str] = CIMultiDict()
    passes = _passes
    for name, value in upstream.items():
        ok = passes.get(name)
        if ok is None:
            ok = _decide(name)
        if ok:
            out.add(name, value)
    if own:
        out.update(own)
    out[REQUEST_ID_HEADER] = request_id
    return out


# Whether a response header (by its name as the provider spells it) goes back to
# the client; a provider uses a handful of names, so the decision is memoised.
_passes: dict[str, bool] = {}
_MAX_NAMES = 1024


def _decide(name: str) -> bool:
    lname = name.lower()
    ok = lname in FORWARD_RESPONSE_HEADERS or lname.startswith(RATE_LIMIT_PREFIX)
    if len(_passes) >= _MAX_NAMES:
        _passes.clear()
    _passes[name] = ok
    return ok
