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

    def tagged_call_after(
        argv: list[str], probe_model: str, reached: str, what: str
    ) -> tuple[str, str]:
        """Apply one `policy set`, wait until the data plane has it (the probe's outcome
        changes with the same update), check `policy show` agrees, send a tagged call."""
        cli("policy", "set", *argv)
        wait_outcome(
            lambda: chat_once(stack.dp.url, key, model=probe_model),
            lambda o: (o.code or "ok") == reached,
            what,
        )
        shown = json.loads(cli("policy", "show", "--key", key_id, "--format", "json"))
        outcome = chat_once(stack.dp.url, key, headers=TAGS)
        assert outcome.status == 200, outcome
        return shown["effective"]["policy"]["record_labels"], outcome.request_id

    cli("policy", "set", "--key", key_id, "--allow-labels")
    # A workspace policy that only restricts models (set after the key's: config arrives
    # in revision order, so once it is enforced the key's grant is there too).
    granted = tagged_call_after(
        ["--allow-models", "gpt-4o-mini", "gpt-4o"], "o3-mini", "model_not_allowed", "ws models"
    )
    # An explicit `no` on the workspace wins over the key's `yes`; the same update
    # narrows the models, which shows when it has reached the data plane.
    denied = tagged_call_after(
        ["--allow-labels", "no", "--allow-models", "gpt-4o-mini"],
        "gpt-4o",
        "model_not_allowed",
        "ws deny",
    )
    # `inherit` takes the workspace's say back: the key's grant applies again.
    again = tagged_call_after(
        ["--allow-labels", "inherit", "--allow-models", "gpt-4o-mini", "gpt-4o"],
        "gpt-4o",
        "ok",
        "ws inherit",
    )
    assert [granted[0], denied[0], again[0]] == ["GRANT_ALLOW", "GRANT_DENY", "GRANT_ALLOW"]

    ids = [granted[1], denied[1], again[1]]
    events = wait_for_requests(radmin, tenant.workspace, ids)
    assert [dict(events[i].labels) for i in ids] == [
        {"feature": "search"},
        {},
        {"feature": "search"},
    ]
