"""Merging policies into one Policy proto: the data plane's rules, most restrictive wins."""

from __future__ import annotations

import pytest
from google.protobuf.duration_pb2 import Duration

from controlplane.domain.effective_policy import Layer, merge, merge_policies, targets_for
from oggy.v1 import policy_pb2

P = policy_pb2.Policy
WS = "workspaces/w"
TEAM = "workspaces/w/actors/team"
ACTOR = "workspaces/w/actors/alice"
KEY = "workspaces/w/keys/k"


def test_targets_most_general_first() -> None:
    assert targets_for(WS, [TEAM], ACTOR, KEY) == (WS, TEAM, ACTOR, KEY)
    assert targets_for(WS) == (WS,)


def test_merge_rules() -> None:
    ws = P(
        name="workspaces/w/policies/ws",
        target=WS,
        allowed_models=["gpt-*"],
        denied_models=["gpt-4"],
        allowed_cidrs=["10.0.0.0/8"],
        max_output_tokens=1000,
        allowed_providers=["workspaces/w/providers/a", "workspaces/w/providers/b"],
        prompt_logging=P.PROMPT_LOGGING_FULL,
        prompt_retention=Duration(seconds=86400 * 30),
        allow_labels=True,
    )
    team = P(
        name="workspaces/w/policies/team",
        target=TEAM,
        denied_models=["o1*"],
        max_output_tokens=500,
        require_actor_token=True,
        allowed_providers=["workspaces/w/providers/b"],
        prompt_logging=P.PROMPT_LOGGING_METADATA,
        prompt_retention=Duration(seconds=3600),
        allow_labels=True,
        max_tokens_mode=P.MAX_TOKENS_MODE_CAP,
    )
    key = P(
        name="workspaces/w/policies/key",
        target=KEY,
        allowed_models=["gpt-4o-mini"],
        max_output_tokens=0,
        replay_protection=True,
        max_tokens_mode=P.MAX_TOKENS_MODE_REJECT,
    )
    shadow = P(name="workspaces/w/policies/shadow", target=ACTOR, shadow=True, max_output_tokens=7)
    out = merge(
        KEY,
        KEY,
        [
            Layer(WS, (ws,)),
            Layer(TEAM, (team,)),
            Layer(ACTOR, (shadow,)),
            Layer(KEY, (key,)),
        ],
    )
    p = out.policy
    assert out.sources == (ws.name, team.name, shadow.name, key.name)
    assert list(p.allowed_models) == ["gpt-4o-mini"]  # most specific non-empty list
    assert list(p.denied_models) == ["gpt-4", "o1*"]  # union
    assert list(p.allowed_cidrs) == ["10.0.0.0/8"]
    assert p.max_output_tokens == 500  # smallest non-zero
    assert p.max_tokens_mode == P.MAX_TOKENS_MODE_REJECT
    assert p.require_actor_token and p.replay_protection  # OR
    # A grant: the key policy has no say, so the workspace's and team's allow stands.
    assert p.record_labels == P.GRANT_ALLOW and p.allow_labels
    assert list(p.allowed_providers) == ["workspaces/w/providers/b"]  # exact intersection
    assert p.prompt_logging == P.PROMPT_LOGGING_METADATA  # least logging
    assert p.prompt_retention.seconds == 3600
    assert not p.shadow
    assert out.shadow_policy is not None
    assert out.shadow_policy.shadow and out.shadow_policy.max_output_tokens == 7


def test_disjoint_providers_admit_none_and_no_policies_is_empty() -> None:
    a = P(name="a", allowed_providers=["workspaces/w/providers/a"])
    b = P(name="b", allowed_providers=["workspaces/w/providers/b"])
    out = merge(WS, WS, [Layer(WS, (a, b))])
    assert list(out.policy.allowed_providers) == [""]
    empty = merge(WS, WS, [Layer(WS, ())])
    assert empty.sources == () and empty.shadow_policy is None
    assert empty.policy == P(name=WS, target=WS, record_labels=P.GRANT_DENY)


CAP = policy_pb2.Policy.MAX_TOKENS_MODE_CAP
REJECT = policy_pb2.Policy.MAX_TOKENS_MODE_REJECT


@pytest.mark.parametrize(
    "bounds",
    [
        [(100, CAP)],
        [(100, 0)],
        [(100, CAP), (200, REJECT)],
        [(100, CAP), (0, REJECT)],
        [(100, CAP), (50, CAP)],
        [(0, CAP), (300, 0)],
    ],
)
def test_max_tokens_summary_matches_what_the_data_plane_enforces(bounds) -> None:
    from oggy.contract.policy import compile_rules

    policies = [
        policy_pb2.Policy(
            name=f"workspaces/w/policies/p{i}", max_output_tokens=n, max_tokens_mode=m
        )
        for i, (n, m) in enumerate(bounds)
    ]
    for policy, (_, mode) in zip(policies, bounds, strict=True):
        policy.max_tokens_mode = mode
    summary = merge_policies(policies, "effective", "workspaces/w")
    rules = compile_rules(policies)
    assert summary.max_output_tokens == rules.max_output_tokens
    assert (summary.max_tokens_mode == CAP) == rules.max_tokens_cap


@pytest.mark.parametrize(
    ("workspace", "key", "granted"),
    [
        # The reported surprise: a workspace policy that only restricts models used
        # to take away a grant made on the key.
        (P(allowed_models=["gpt-4o*"]), P(record_labels=P.GRANT_ALLOW), True),
        (P(allowed_models=["gpt-4o*"]), P(allow_labels=True), True),  # deprecated bool
        (P(record_labels=P.GRANT_DENY), P(record_labels=P.GRANT_ALLOW), False),
        (P(record_labels=P.GRANT_ALLOW), P(record_labels=P.GRANT_DENY), False),
        (P(record_labels=P.GRANT_ALLOW), P(allowed_models=["gpt-4o*"]), True),
        (P(allowed_models=["gpt-4o*"]), P(), False),
    ],
)
def test_grant_summary_is_what_the_data_plane_enforces(
    workspace: policy_pb2.Policy, key: policy_pb2.Policy, granted: bool
) -> None:
    from oggy.contract.policy import compile_effective

    workspace.name, workspace.target = "workspaces/w/policies/ws", WS
    key.name, key.target = "workspaces/w/policies/key", KEY
    out = merge(KEY, KEY, [Layer(WS, (workspace,)), Layer(KEY, (key,))]).policy
    assert out.record_labels == (P.GRANT_ALLOW if granted else P.GRANT_DENY)
    assert out.allow_labels is granted
    assert compile_effective([workspace, key]).allow_labels is granted


def test_a_shadow_layer_grants_nothing() -> None:
    shadow = P(name="workspaces/w/policies/s", target=WS, shadow=True, record_labels=P.GRANT_ALLOW)
    out = merge(WS, WS, [Layer(WS, (shadow,))])
    assert out.policy.record_labels == P.GRANT_DENY
    assert out.shadow_policy is not None
    assert out.shadow_policy.record_labels == P.GRANT_UNSPECIFIED


FULL, METADATA, OFF = P.PROMPT_LOGGING_FULL, P.PROMPT_LOGGING_METADATA, P.PROMPT_LOGGING_OFF


def prompt(mode: int = 0, retention: Duration | None = None, rules=(), **kw) -> P:
    p = P(
        prompt_logging=mode,
        redaction_rules=[policy_pb2.RedactionRule(name=n, pattern=r) for n, r in rules],
        **kw,
    )
    if retention is not None:
        p.prompt_retention.CopyFrom(retention)
    return p


@pytest.mark.parametrize(
    ("workspace", "key"),
    [
        (prompt(), prompt()),
        (prompt(FULL), prompt(OFF)),
        (prompt(FULL), prompt(METADATA)),
        (prompt(FULL), prompt()),
        # A zero retention reads as unset: it neither wins nor purges at once.
        (prompt(FULL, Duration(seconds=3600)), prompt(retention=Duration())),
        (prompt(FULL), prompt(retention=Duration())),
        # Retention is enforced in whole seconds, rounded up (never purged early).
        (prompt(FULL, Duration(seconds=10, nanos=5)), prompt(retention=Duration(seconds=20))),
        # Rules are distinct by (name, pattern): one name with two patterns is two rules.
        (prompt(FULL, rules=[("id", r"ID-\d+")]), prompt(rules=[("id", r"EMP-\d+")])),
        (prompt(FULL, rules=[("id", r"ID-\d+")]), prompt(rules=[("id", r"ID-\d+"), ("a", "x")])),
        # A shadow policy only tries out blocking rules: no say in what is logged.
        (prompt(FULL, Duration(seconds=3600)), prompt(OFF, Duration(seconds=60), shadow=True)),
        (prompt(FULL), prompt(rules=[("s", "secret")], shadow=True)),
    ],
)
def test_prompt_logging_summary_is_what_the_data_plane_enforces(
    workspace: policy_pb2.Policy, key: policy_pb2.Policy
) -> None:
    from oggy.contract.prompt_logging import DEFAULT_RETENTION_S, compile_prompt_logging

    workspace.name, workspace.target = "workspaces/w/policies/ws", WS
    key.name, key.target = "workspaces/w/policies/key", KEY
    out = merge(KEY, KEY, [Layer(WS, (workspace,)), Layer(KEY, (key,))])
    summary = out.policy
    enforced = compile_prompt_logging([workspace, key])
    # What the summary leaves unset is the documented default.
    assert (summary.prompt_logging or METADATA) == enforced.mode
    shown = summary.prompt_retention
    assert (shown.seconds if summary.HasField("prompt_retention") else DEFAULT_RETENTION_S) == (
        enforced.retention_s
    )
    assert shown.nanos == 0
    if enforced.redactor is not None:
        rules = tuple(f"CUSTOM:{r.name}" for r in summary.redaction_rules)
        assert rules == enforced.redactor.rules
    # The shadow layer shows no prompt settings: none of them applies.
    if out.shadow_policy is not None:
        shadow = out.shadow_policy
        assert shadow.prompt_logging == P.PROMPT_LOGGING_UNSPECIFIED
        assert not shadow.HasField("prompt_retention") and not shadow.redaction_rules
