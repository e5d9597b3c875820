"""`oggy policy set` inputs: target → policy id, flags → (Policy, update mask). No network."""

import pytest

from controlplane.cli import main
from controlplane.cli.commands import policy_spec as policy
from controlplane.cli.errors import CliError
from oggy.v1 import policy_pb2

WS = "workspaces/demo"
Policy = policy_pb2.Policy


def parse(*argv: str):
    return main.build_parser().parse_args(["policy", "set", *argv])


@pytest.mark.parametrize(
    ("argv", "name", "policy_id"),
    [
        ([], WS, "ws"),
        (["--shadow"], WS, "ws-shadow"),
        (["--team", "ml"], f"{WS}/actors/ml", "team-ml"),
        (["--actor", "alice"], f"{WS}/actors/alice", "actor-alice"),
        (["--actor", f"{WS}/actors/alice", "--shadow"], f"{WS}/actors/alice", "actor-alice-shadow"),
        (["--key", "oggy_live_kabc_SECRET"], f"{WS}/keys/kabc", "key-kabc"),
    ],
)
def test_target_and_default_policy_id(argv: list[str], name: str, policy_id: str) -> None:
    target = policy.resolve_target(parse(*argv), WS)
    assert (target.name, target.default_id) == (name, policy_id)
    assert target.explicit == bool(set(argv) & {"--team", "--actor", "--key"})


def test_too_long_derived_id_needs_a_name() -> None:
    target = policy.resolve_target(parse("--actor", "a" * 60), WS)
    assert target.default_id == ""


def test_targets_are_mutually_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--team", "ml", "--actor", "alice")


def test_mask_is_exactly_the_flags_given() -> None:
    changes, paths = policy.build_changes(
        parse("--allow-models", "gpt-4o*", "o3*,o4*", "--max-output-tokens", "512"), WS
    )
    assert paths == ["allowed_models", "max_output_tokens"]
    assert list(changes.allowed_models) == ["gpt-4o*", "o3*", "o4*"]
    assert changes.max_output_tokens == 512
    assert policy.build_changes(parse(), WS)[1] == []


def test_every_setting_maps_to_its_field() -> None:
    changes, paths = policy.build_changes(
        parse(
            "--deny-models", "gpt-4.5*", "--allow-cidrs", "10.0.0.0/8", "192.168.0.0/16",
            "--trusted-proxies", "10.1.0.0/16", "--require-actor-token", "--max-tokens-mode",
            "reject", "--allow-providers", "openai", "--prompt-logging", "full",
            "--prompt-retention", "7d", "--redact", "ticket=TKT-[0-9]+", "emp=E[0-9]{6}",
            "--claim-overrides", "team,workflow", "--allow-labels", "--no-replay-protection",
        ),
        WS,
    )  # fmt: skip
    assert paths == [
        "denied_models", "allowed_cidrs", "trusted_proxy_cidrs", "require_actor_token",
        "max_tokens_mode", "allowed_providers", "prompt_logging", "prompt_retention",
        "redaction_rules", "actor_claim_overrides", "record_labels", "allow_labels",
        "replay_protection",
    ]  # fmt: skip
    assert list(changes.allowed_cidrs) == ["10.0.0.0/8", "192.168.0.0/16"]
    assert changes.require_actor_token is True
    assert changes.max_tokens_mode == Policy.MaxTokensMode.MAX_TOKENS_MODE_REJECT
    assert list(changes.allowed_providers) == [f"{WS}/providers/openai"]
    assert changes.prompt_logging == Policy.PromptLogging.PROMPT_LOGGING_FULL
    assert changes.prompt_retention.seconds == 7 * 86400
    assert [(r.name, r.pattern) for r in changes.redaction_rules] == [
        ("ticket", "TKT-[0-9]+"), ("emp", "E[0-9]{6}"),
    ]  # fmt: skip
    assert list(changes.actor_claim_overrides) == ["team", "workflow"]
    assert changes.record_labels == Policy.GRANT_ALLOW and changes.replay_protection is False
    assert changes.allow_labels is False  # the deprecated bool is cleared, never set


@pytest.mark.parametrize(
    ("argv", "grant"),
    [
        (["--allow-labels"], Policy.GRANT_ALLOW),
        (["--allow-labels", "yes"], Policy.GRANT_ALLOW),
        (["--allow-labels", "no"], Policy.GRANT_DENY),
        (["--no-allow-labels"], Policy.GRANT_DENY),
        # Back to no say, so that other policies decide.
        (["--allow-labels", "inherit"], Policy.GRANT_UNSPECIFIED),
    ],
)
def test_allow_labels_is_tri_state(argv: list[str], grant: int) -> None:
    changes, paths = policy.build_changes(parse(*argv), WS)
    assert paths == ["record_labels", "allow_labels"]
    assert changes.record_labels == grant and changes.allow_labels is False


@pytest.mark.parametrize(
    "argv", [["--allow-labels", "maybe"], ["--allow-labels", "--no-allow-labels"]]
)
def test_bad_allow_labels_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_a_list_flag_without_values_clears_the_list() -> None:
    changes, paths = policy.build_changes(parse("--allow-models", "--no-require-actor-token"), WS)
    assert paths == ["allowed_models", "require_actor_token"]
    assert list(changes.allowed_models) == [] and changes.require_actor_token is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--redact", "no-equals"], "expected NAME=REGEX"),
        (["--redact", "x=("], "bad regular expression"),
        (["--redact", "1bad=x"], "expected NAME=REGEX"),
        (["--claim-overrides", "team,sub"], "invalid --claim-overrides"),
        (["--max-output-tokens", "-1"], "must not be negative"),
        (["--prompt-retention", "forever"], "invalid duration"),
        (["--allow-providers", "Bad_Name"], "invalid providers id"),
    ],
)
def test_bad_settings_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message):
        policy.build_changes(parse(*argv), WS)


@pytest.mark.parametrize("argv", [["--max-tokens-mode", "trim"], ["--prompt-logging", "all"]])
def test_bad_choices_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


def test_target_label() -> None:
    assert policy.target_label(WS, WS) == "workspace"
    assert policy.target_label(WS, f"{WS}/actors/ml") == "actors/ml"
