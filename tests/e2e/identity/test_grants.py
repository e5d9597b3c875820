"""Permissions are tri-state, end to end: a key's `--allow-labels` is not taken away by a
workspace policy that says nothing about labels; an explicit `no` anywhere denies; and
`policy show` says what the data plane does. Set with the CLI, as an operator would."""

from __future__ import annotations

import functools
import json

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.identity.conftest import chat_once, new_key, oggy_cli, wait_outcome
from tests.support.oggy_clients import Tenant, wait_for_requests

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

TAGS = {"X-Oggy-Tags": "feature=search"}


def test_key_grant_holds_under_a_workspace_policy_until_a_workspace_deny(
    stack: Stack, radmin, tenant: Tenant, secret_registry, capsys
) -> None:
    name, key = new_key(radmin, stack, tenant.workspace, secret_registry)
    key_id = name.rsplit("/", 1)[1]
    cli = functools.partial(oggy_cli, stack, radmin, tenant.workspace, capsys)

    def effective_labels() -> str:
        shown = json.loads(cli("policy", "show", "--key", key_id, "--format", "json"))
        return shown["effective"]["policy"]["record_labels"]

    cli("policy", "set", "--key", key_id, "--allow-labels")
    # A workspace policy that only restricts models (set after the key's: config arrives
    # in revision order, so once it is enforced the key's grant is there too).
    cli("policy", "set", "--allow-models", "gpt-4o-mini", "gpt-4o")
    wait_outcome(
        lambda: chat_once(stack.dp.url, key, model="o3-mini"),
        lambda o: o.code == "model_not_allowed",
        "the workspace policy on the data plane",
    )
    assert effective_labels() == "GRANT_ALLOW"
    granted = chat_once(stack.dp.url, key, headers=TAGS)
    assert granted.status == 200, granted

    # An explicit `no` on the workspace wins over the key's `yes`; the same update
    # narrows the models, which shows when it has reached the data plane.
    cli("policy", "set", "--allow-labels", "no", "--allow-models", "gpt-4o-mini")
    wait_outcome(
        lambda: chat_once(stack.dp.url, key, model="gpt-4o"),
        lambda o: o.code == "model_not_allowed",
        "the workspace deny on the data plane",
    )
    assert effective_labels() == "GRANT_DENY"
    denied = chat_once(stack.dp.url, key, headers=TAGS)
    assert denied.status == 200, denied

    # `inherit` takes the workspace's say back: the key's grant applies again.
    cli("policy", "set", "--allow-labels", "inherit", "--allow-models", "gpt-4o-mini", "gpt-4o")
    wait_outcome(
        lambda: chat_once(stack.dp.url, key, model="gpt-4o"),
        lambda o: o.status == 200,
        "the workspace's inherit on the data plane",
    )
    assert effective_labels() == "GRANT_ALLOW"
    again = chat_once(stack.dp.url, key, headers=TAGS)

    ids = [granted.request_id, denied.request_id, again.request_id]
    events = wait_for_requests(radmin, tenant.workspace, ids)
    assert [dict(events[i].labels) for i in ids] == [
        {"feature": "search"},
        {},
        {"feature": "search"},
    ]
