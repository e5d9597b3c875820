"""USD text ⇄ integer micro-USD: exact, no float anywhere."""

import pytest

from controlplane.cli import money
from controlplane.cli.errors import CliError


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("2.50", 2_500_000),
        ("$0.15", 150_000),
        ("0.000001", 1),
        ("10", 10_000_000),
        ("0", 0),
        ("1e-3", 1_000),
        ("1_000.5", 1_000_500_000),
        ("0.1", 100_000),  # 0.1 is not exact in binary floating point; Decimal is
        ("75.000000", 75_000_000),
    ],
)
def test_parse_usd_is_exact(text: str, micro: int) -> None:
    assert money.parse_usd(text) == micro


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0000001", "at most 6 decimals"),
        ("1.2345678", "at most 6 decimals"),
        ("-1", "must not be negative"),
        ("abc", "expected USD"),
        ("NaN", "expected USD"),
        ("Infinity", "expected USD"),
        ("", "expected USD"),
        ("1e30", "too large"),
    ],
)
def test_parse_usd_rejects(text: str, message: str) -> None:
    with pytest.raises(CliError, match=message):
        money.parse_usd(text, "--input")


@pytest.mark.parametrize(
    ("micro", "text"),
    [(0, "$0.000000"), (1, "$0.000001"), (2_500_000, "$2.500000"), (123_456_789, "$123.456789"),
     (-1_500_000, "-$1.500000")],
)  # fmt: skip
def test_format_usd(micro: int, text: str) -> None:
    assert money.format_usd(micro) == text


def test_parse_and_format_round_trip() -> None:
    for micro in (0, 1, 999_999, 1_000_000, 2**40 + 7):
        assert money.parse_usd(money.format_usd(micro)) == micro


def test_format_cost_unknown_and_mixed() -> None:
    assert money.format_cost(1_230_000, requests=3, unpriced_requests=0) == "$1.230000"
    assert money.format_cost(0, requests=3, unpriced_requests=3) == "unknown"
    assert money.format_cost(500, requests=3, unpriced_requests=1) == "$0.000500 (1 unpriced)"
    assert money.format_cost(0, requests=0, unpriced_requests=0) == "$0.000000"
