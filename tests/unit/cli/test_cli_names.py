import pytest

from controlplane.cli import names
from controlplane.cli.errors import CliError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("demo", "workspaces/demo"),
        ("workspaces/demo", "workspaces/demo"),
        ("  team-a1 ", "workspaces/team-a1"),
        ("a" * 63, "workspaces/" + "a" * 63),
    ],
)
def test_workspace_name_accepts_id_or_full_name(given: str, expected: str) -> None:
    assert names.workspace_name(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "Demo",
        "1demo",
        "demo_1",
        "workspaces/",
        "workspaces/demo/",
        "workspaces/demo/keys/k",
        "a" * 64,
        "ws/x",
    ],
)
def test_workspace_name_rejects_bad_input(given: str) -> None:
    with pytest.raises(CliError, match="invalid workspace"):
        names.workspace_name(given)


def test_child_name_from_id_and_full_name() -> None:
    assert names.child_name("demo", "actors", "alice") == "workspaces/demo/actors/alice"
    full = "workspaces/demo/providers/openai"
    assert names.child_name("workspaces/demo", "providers", full) == full


def test_child_name_refuses_a_name_from_another_workspace() -> None:
    with pytest.raises(CliError, match="not a keys name in workspaces/demo"):
        names.child_name("demo", "keys", "workspaces/other/keys/k1")


def test_child_name_rejects_bad_id() -> None:
    with pytest.raises(CliError, match="invalid actors id"):
        names.child_name("demo", "actors", "Alice")


@pytest.mark.parametrize(
    "given",
    [
        "kabc123def456gh7",
        "workspaces/demo/keys/kabc123def456gh7",
        "oggy_live_kabc123def456gh7",
        "oggy_test_kabc123def456gh7_" + "A1b2" * 10 + "xyz",
    ],
)
def test_key_name_accepts_id_name_prefix_or_text(given: str) -> None:
    assert names.key_name("demo", given) == "workspaces/demo/keys/kabc123def456gh7"


def test_key_id_from_text() -> None:
    assert names.key_id_from_text("oggy_live_kabc_" + "x" * 43) == "kabc"
    assert names.key_id_from_text("sk-not-ours") is None
    assert names.key_id_from_text("") is None


def test_short_id() -> None:
    assert names.short_id("workspaces/demo/keys/k1") == "k1"
    assert names.short_id("plain") == "plain"
