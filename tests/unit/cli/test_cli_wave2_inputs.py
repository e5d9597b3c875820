"""Inputs of the identity, routing, pricing and audit commands (pure; no network)."""

from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.cli.commands import (
    actor,
    audit,
    cost,
    key,
    policy,
    prices,
    prompt_logs,
    routes,
    signing_key,
    usage,
)
from controlplane.cli.errors import CliError

WS = "workspaces/demo"


def parse(*argv: str):
    return main.build_parser().parse_args(list(argv))


def test_handlers_are_wired() -> None:
    cases = {
        ("actor", "create", "alice", "--kind", "user"): actor.create,
        ("actor", "list"): actor.list_actors,
        ("actor", "disable", "alice"): actor.disable,
        ("actor", "enable", "alice"): actor.enable,
        ("signing-key", "add", "--kid", "k1", "--alg", "HS256"): signing_key.add,
        ("signing-key", "list"): signing_key.list_keys,
        ("signing-key", "remove", "k1"): signing_key.remove,
        ("key", "rotate", "k1", "--grace", "24h"): key.rotate,
        ("policy", "set"): policy.set_policy,
        ("policy", "show", "--key", "k1"): policy.show,
        ("policy", "list"): policy.list_policies,
        ("policy", "delete", "ws"): policy.delete,
        ("audit", "list", "--all-workspaces"): audit.list_events,
        ("prices", "list"): prices.list_prices,
        ("prices", "set", "--model", "m", "--provider", "*", "--input", "1", "--output", "2"):
            prices.set_price,
        ("prices", "unpriced"): prices.unpriced,
        ("prices", "delete", "p1"): prices.delete,
        ("cost", "estimate", "--model", "m", "--input", "1", "--output", "2"): cost.estimate,
        ("route", "create", "fast", "--target", "openai"): routes.create,
        ("route", "list"): routes.list_routes,
        ("route", "delete", "fast"): routes.delete,
        ("prompt-logs", "list"): prompt_logs.list_logs,
        ("prompt-logs", "purge"): prompt_logs.purge,
    }  # fmt: skip
    for argv, handler in cases.items():
        assert parse(*argv).handler is handler, argv


@pytest.mark.parametrize(
    "argv",
    [
        ["actor", "create", "alice"],  # no --kind
        ["actor", "create", "alice", "--kind", "robot"],
        ["signing-key", "add", "--kid", "k", "--alg", "RS256"],
        ["signing-key", "add", "--kid", "k", "--alg", "HS256", "--secret", "x"],  # no such flag
        ["signing-key", "add", "--kid", "k", "--alg", "EdDSA", "--public-key-file", "a",
         "--secret-env", "B"],  # one source only
        ["key", "rotate", "k1"],  # --grace is required
        ["prices", "set", "--model", "m", "--provider", "google", "--input", "1", "--output", "1"],
        ["prices", "set", "--model", "m", "--provider", "openai", "--input", "1"],
        ["cost", "estimate", "--model", "m", "--input", "x", "--output", "1"],
        ["route", "create", "fast"],  # no --target
        ["usage", "summary", "--blocked", "yes"],
    ],
)  # fmt: skip
def test_bad_arguments_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2


def test_actor_team_flag_repeats() -> None:
    args = parse("actor", "create", "alice", "--kind", "user", "--team", "ml", "--team", "infra")
    assert args.teams == ["ml", "infra"]


def test_usage_new_filters_and_dimensions() -> None:
    args = parse(
        "usage", "summary", "-w", "demo", "--by", "team,policy-reason", "--team", "ml",
        "--app", "chatbot", "--workflow", "nightly", "--blocked", "--policy-reason",
        "model_not_allowed",
    )  # fmt: skip
    f = usage.build_filter(args, WS)
    assert (f.team, f.app, f.workflow, f.policy_reason) == (
        f"{WS}/actors/ml", "chatbot", "nightly", "model_not_allowed",
    )  # fmt: skip
    assert f.blocked_only and not f.errors_only
    assert usage.team_filter(WS, "=free text") == "free text"


def test_kid_names_allow_the_jwt_alphabet() -> None:
    assert signing_key.kid_name(WS, "App.Key_1-2") == f"{WS}/signingKeys/App.Key_1-2"
    assert signing_key.kid_name(WS, f"{WS}/signingKeys/k1") == f"{WS}/signingKeys/k1"
    for bad in ("a b", "..", "x" * 65, "workspaces/other/signingKeys/k1"):
        with pytest.raises(CliError):
            signing_key.kid_name(WS, bad)


def test_public_key_file_refuses_private_keys(tmp_path: Path) -> None:
    private = tmp_path / "priv.pem"
    private.write_text(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(CliError, match="private key") as exc:
        signing_key.read_public_key(private)
    assert "MC4CAQ" not in str(exc.value)
    public = tmp_path / "pub.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert signing_key.read_public_key(public).startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(CliError, match="cannot read"):
        signing_key.read_public_key(tmp_path / "missing.pem")


@pytest.mark.parametrize(
    ("text", "provider", "model"),
    [
        ("openai", f"{WS}/providers/openai", ""),
        ("openai:gpt-4o-mini", f"{WS}/providers/openai", "gpt-4o-mini"),
        ("local:llama3:8b", f"{WS}/providers/local", "llama3:8b"),
    ],
)
def test_route_targets(text: str, provider: str, model: str) -> None:
    target = routes.parse_target(WS, text)
    assert (target.provider, target.model) == (provider, model)


def test_route_target_rejects_bad_provider() -> None:
    for bad in (":gpt-4o", "Open AI:x"):
        with pytest.raises(CliError):
            routes.parse_target(WS, bad)


@pytest.mark.parametrize(
    ("alias", "route_id"),
    [("gpt-fast", "gpt-fast"), ("Claude-3.5", "claude-3-5"), ("4o", "r-4o"), ("x" * 80, "x" * 63)],
)
def test_route_id_from_alias(alias: str, route_id: str) -> None:
    assert routes.route_id(alias) == route_id


@pytest.mark.parametrize(
    ("provider", "model", "effective", "price_id"),
    [
        ("openai", "gpt-4o-mini*", None, "openai-gpt-4o-mini-any"),
        ("azure_openai", "gpt-4o", "20250701", "azure-openai-gpt-4o-20250701"),
        ("*", "llama-3.1-70b", None, "any-llama-3-1-70b"),
    ],
)
def test_price_id_is_stable(
    provider: str, model: str, effective: str | None, price_id: str
) -> None:
    assert prices.price_id(provider, model, effective) == price_id
    assert len(prices.price_id(provider, "m" * 100, "20250701")) <= 63


def test_price_flags_become_exact_micro_usd() -> None:
    args = parse(
        "prices", "set", "--model", "gpt-4o", "--provider", "openai", "--input", "2.50",
        "--output", "10", "--cached-input", "1.25", "--effective", "2025-07-01",
    )  # fmt: skip
    price = prices.build_price(args)
    assert (price.input_per_mtok, price.output_per_mtok) == (2_500_000, 10_000_000)
    assert price.cached_input_per_mtok == 1_250_000
    assert not price.HasField("cache_write_per_mtok") and not price.HasField("reasoning_per_mtok")
    assert price.effective_time.seconds == 1751328000
    bad = parse(
        "prices", "set", "--model", "m", "--provider", "openai", "--input", "0.0000001",
        "--output", "1",
    )  # fmt: skip
    with pytest.raises(CliError, match=r"--input.*at most 6 decimals"):
        prices.build_price(bad)


def test_prompt_preview_is_one_short_line() -> None:
    assert prompt_logs.preview("hello\n  world") == "hello world"
    long = prompt_logs.preview("word " * 50)
    assert len(long) == prompt_logs.PREVIEW_CHARS and long.endswith("...")
