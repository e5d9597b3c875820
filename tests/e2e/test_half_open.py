"""Data plane <-> control plane connections that fail the hard ways (issues from fault
injection), through a loopback TCP proxy the test cuts:

- Black hole (packets silently dropped, no socket closed): the data plane notices its dead
  config and usage streams by keepalive, within keepalive time + timeout, and once the
  network heals both streams are back within 5 s.
- Hard drop (every connection reset, new ones refused) long enough for any backoff to reach
  its maximum: once the network heals, config and usage flow again within 5 s. One
  backoff (the channel's), not the channel's plus the clients' own stacked on it.

The keepalive is shortened here (1 s + 1 s, so the test stays short); the reconnect backoff
is the shipped default, since it is what the 5 s bound is about.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator

import openai
import pytest

from tests.e2e.conftest import Stack, register_key, register_tenant
from tests.support.oggy_clients import (
    MODEL,
    Tenant,
    create_key,
    create_tenant,
    openai_client,
    wait_for_requests,
    wait_key_accepted,
    wait_until,
)
from tests.support.processes import DataPlane, start_data_plane
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

KEEPALIVE_TIME_S = 1.0
KEEPALIVE_TIMEOUT_S = 1.0
# Keepalive can take time + timeout to notice; the rest is scheduling on a busy machine.
NOTICE_BOUND_S = KEEPALIVE_TIME_S + KEEPALIVE_TIMEOUT_S + 2.0
# Target: from the network healing to config and usage flowing again.
RESUME_BOUND_S = 5.0
# Long enough for backoffs to reach their maximum (5 s in the data plane's own loops).
DROP_S = 15.0


@pytest.fixture(scope="module")
def own_stack(stack_factory: Callable[[str], Stack]) -> Iterator[Stack]:
    stack = stack_factory("half-open")
    yield stack
    stack.stop()


@dataclasses.dataclass
class Proxied:
    proxy: TcpProxy
    dp: DataPlane
    tenant: Tenant


@pytest.fixture
def proxied(
    own_stack: Stack, secret_registry: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[Proxied]:
    """A data plane that reaches the control plane only through a proxy, with a tenant."""
    proxy = TcpProxy(own_stack.cp.address).start()
    node_id = f"dp-{request.node.name[5:25]}"
    dp = start_data_plane(
        own_stack.procs,
        dataclasses.replace(own_stack.cp, address=proxy.address),
        own_stack.root / f"spool-{node_id}",
        node_id=node_id,
        extra_args=(
            f"--keepalive-time={KEEPALIVE_TIME_S}",
            f"--keepalive-timeout={KEEPALIVE_TIMEOUT_S}",
        ),
    )
    tenant = create_tenant(own_stack.admin, own_stack.mock.url, dp.url, prefix="half-open")
    register_tenant(secret_registry, tenant)
    try:
        yield Proxied(proxy, dp, tenant)
    finally:
        proxy.close()
        dp.child.stop()


def chat(client: openai.OpenAI, text: str) -> str:
    """One request the data plane serves from its snapshot; its x-request-id."""
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    return raw.headers["x-request-id"]


def assert_resumes(
    stack: Stack, p: Proxied, secrets: dict[str, str], request_id: str, key_text: str
) -> None:
    """Heal the network: the key made meanwhile is served, the usage made meanwhile stored."""
    p.proxy.forward()
    healed = time.monotonic()
    wait_key_accepted(p.dp.url, key_text, timeout=15)
    config_s = time.monotonic() - healed
    wait_for_requests(stack.admin, p.tenant.workspace, [request_id], timeout=15)
    usage_s = time.monotonic() - healed
    print(f"network healed -> config {config_s:.2f}s, usage {usage_s:.2f}s")
    assert config_s <= RESUME_BOUND_S, f"config stream resumed after {config_s:.2f}s"
    assert usage_s <= RESUME_BOUND_S, f"usage stream resumed after {usage_s:.2f}s"


def test_a_black_holed_connection_is_noticed_and_replaced(
    own_stack: Stack, proxied: Proxied, secret_registry: dict[str, str]
) -> None:
    p = proxied
    with openai_client(p.dp.url, p.tenant.key_text) as client:
        # Usage flows, so the usage stream is open (and idle) like the config stream.
        wait_for_requests(own_stack.admin, p.tenant.workspace, [chat(client, "before")])
        log_start = len(p.dp.child.stderr())
        p.proxy.blackhole()
        cut = time.monotonic()

        def noticed() -> bool:
            log = p.dp.child.stderr()[log_start:]
            return "config stream to" in log and "usage stream to" in log

        wait_until(noticed, timeout=15, message="both streams noticed down")
        noticed_s = time.monotonic() - cut
        print(f"black hole -> both streams noticed down {noticed_s:.2f}s")
        assert noticed_s <= NOTICE_BOUND_S

        during = chat(client, "during")  # served from the snapshot, usage spooled
    key_name, key_text = create_key(own_stack.admin, p.tenant.workspace)
    register_key(secret_registry, key_name, key_text)
    assert_resumes(own_stack, p, secret_registry, during, key_text)


def test_after_a_hard_drop_config_and_usage_resume_within_5s_of_the_network_healing(
    own_stack: Stack, proxied: Proxied, secret_registry: dict[str, str]
) -> None:
    p = proxied
    p.proxy.drop()
    with openai_client(p.dp.url, p.tenant.key_text) as client:
        during = chat(client, "during")
    key_name, key_text = create_key(own_stack.admin, p.tenant.workspace)
    register_key(secret_registry, key_name, key_text)
    time.sleep(DROP_S)  # the outage itself: what the backoffs grow during
    assert_resumes(own_stack, p, secret_registry, during, key_text)
