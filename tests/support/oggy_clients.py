"""Clients the end-to-end tests drive Oggy with: the admin API over gRPC, raw HTTP for what
the OpenAI SDK hides (headers, exact bodies, hanging up mid-stream) and bounded polling.

Nothing here sleeps for a fixed time: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import openai

from oggy.v1 import admin_service_pb2 as admin_pb
from oggy.v1 import admin_service_pb2_grpc as admin_grpc
from oggy.v1 import key_pb2, provider_pb2, usage_pb2, workspace_pb2

T = TypeVar("T")

MODEL = "gpt-4o-mini"
CHAT_ENDPOINT = "/v1/chat/completions"
USAGE_WAIT_S = 10.0


class WaitTimeout(AssertionError):
    """A polled condition did not hold before its deadline."""


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `probe` until it returns a truthy value; that value is returned."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{message} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)


class AdminClient:
    """The AdminService stub with the admin token attached to every call.

    `admin.CreateWorkspace(request)` calls the RPC of that name; calls retry while the
    control plane is UNAVAILABLE (e.g. restarting), up to `unavailable_wait` seconds.
    """

    def __init__(self, address: str, token: str, *, unavailable_wait: float = 10.0) -> None:
        self.address = address
        self._channel = grpc.insecure_channel(address)
        self._stub = admin_grpc.AdminServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._unavailable_wait = unavailable_wait

    def __getattr__(self, rpc: str) -> Callable[..., Any]:
        method = getattr(self._stub, rpc)

        def call(request: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + self._unavailable_wait
            while True:
                try:
                    return method(request, metadata=self._metadata, timeout=10, **kwargs)
                except grpc.RpcError as e:
                    unavailable = e.code() == grpc.StatusCode.UNAVAILABLE
                    if not unavailable or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

        return call

    def close(self) -> None:
        self._channel.close()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> HttpResponse:
    """One raw HTTP/1.1 request; `body` (if not None) is sent as JSON."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        all_headers = {"content-type": "application/json"} if payload is not None else {}
        all_headers.update(headers or {})
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return HttpResponse(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def chat_body(text: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    }
    body.update(extra)
    return body


def expected_prompt_tokens(messages: list[Mapping[str, str]]) -> int:
    """The mock provider's rule: whitespace-separated words + 4 per message."""
    return sum(len(m["content"].split()) + 4 for m in messages)


def openai_client(dataplane_url: str, key_text: str, *, timeout: float = 30.0) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{dataplane_url}/v1", api_key=key_text, max_retries=0, timeout=timeout
    )


def list_usage(
    admin: AdminClient, workspace: str, *, endpoint: str | None = CHAT_ENDPOINT, **filters: Any
) -> list[usage_pb2.UsageEvent]:
    """Every usage event matching the filter (all pages), of `endpoint` unless it is None."""
    events: list[usage_pb2.UsageEvent] = []
    token = ""
    for _ in range(1000):
        response = admin.ListUsageEvents(
            admin_pb.ListUsageEventsRequest(
                filter=admin_pb.UsageFilter(workspace=workspace, **filters),
                page_size=500,
                page_token=token,
            )
        )
        events.extend(response.usage_events)
        token = response.next_page_token
        if not token:
            return [e for e in events if endpoint is None or e.endpoint == endpoint]
    raise AssertionError("ListUsageEvents did not stop paging")


def wait_for_requests(
    admin: AdminClient,
    workspace: str,
    request_ids: list[str],
    *,
    timeout: float = USAGE_WAIT_S,
    endpoint: str | None = CHAT_ENDPOINT,
) -> dict[str, usage_pb2.UsageEvent]:
    """Poll until the workspace has a usage event for each of `request_ids` (the
    `x-request-id` the data plane answered with); returns them by request id and fails if
    any request has more than one event."""
    assert all(request_ids), f"responses without x-request-id: {request_ids}"
    wanted = set(request_ids)

    def found() -> list[usage_pb2.UsageEvent] | None:
        events = [
            e for e in list_usage(admin, workspace, endpoint=endpoint) if e.request_id in wanted
        ]
        return events if {e.request_id for e in events} == wanted else None

    try:
        events = wait_until(found, timeout=timeout, interval=0.1, message="usage events")
    except WaitTimeout:
        got = list_usage(admin, workspace, endpoint=None)
        raise WaitTimeout(
            f"no usage event within {timeout}s for requests "
            f"{sorted(wanted - {e.request_id for e in got})}; workspace has "
            f"{[_brief(e) for e in got]}"
        ) from None
    by_id: dict[str, usage_pb2.UsageEvent] = {}
    for event in events:
        assert event.request_id not in by_id, f"two usage events for {event.request_id}"
        by_id[event.request_id] = event
    return by_id


def _brief(event: usage_pb2.UsageEvent) -> str:
    return f"{event.request_id}:{event.http_status}:{event.error_type}"


@dataclass
class Tenant:
    """A workspace with a provider credential at the mock and one gateway key."""

    workspace: str
    provider: str
    provider_api_key: str = field(repr=False)
    key_name: str
    key_text: str = field(repr=False)

    @property
    def key_secret(self) -> str:
        return self.key_text.rsplit("_", 1)[1]


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def create_tenant(
    admin: AdminClient, mock_url: str, dataplane_url: str, *, prefix: str = "ws"
) -> Tenant:
    workspace = admin.CreateWorkspace(
        admin_pb.CreateWorkspaceRequest(
            workspace_id=new_id(prefix), workspace=workspace_pb2.Workspace(display_name=prefix)
        )
    ).workspace.name
    api_key = f"sk-mock-{secrets.token_urlsafe(24)}"
    provider = admin.CreateProviderCredential(
        admin_pb.CreateProviderCredentialRequest(
            parent=workspace,
            provider_id="mock",
            provider_credential=provider_pb2.ProviderCredential(
                display_name="mock",
                kind=provider_pb2.ProviderCredential.KIND_OPENAI_COMPATIBLE,
                base_url=f"{mock_url}/v1",
                models=["gpt-4o-mini", "gpt-4o*", "o3-*"],
                api_key=api_key,
                allow_private_network=True,  # the mock listens on loopback
            ),
        )
    ).provider_credential.name
    key_name, key_text = create_key(admin, workspace, dataplane_url)
    return Tenant(workspace, provider, api_key, key_name, key_text)


def create_key(
    admin: AdminClient, workspace: str, dataplane_url: str | None = None
) -> tuple[str, str]:
    """A new gateway key; with `dataplane_url`, waits until that data plane accepts it."""
    response = admin.CreateGatewayKey(
        admin_pb.CreateGatewayKeyRequest(
            parent=workspace, gateway_key=key_pb2.GatewayKey(display_name="e2e")
        )
    )
    if dataplane_url is not None:
        wait_key_accepted(dataplane_url, response.key_text)
    return response.gateway_key.name, response.key_text


def wait_key_accepted(dataplane_url: str, key_text: str, timeout: float = 10.0) -> None:
    """Config propagates asynchronously: poll GET /v1/models until the key is accepted."""

    def accepted() -> bool:
        response = http_request(
            "GET", f"{dataplane_url}/v1/models", headers={"authorization": f"Bearer {key_text}"}
        )
        return response.status == 200

    wait_until(accepted, timeout=timeout, message="gateway key accepted by the data plane")
