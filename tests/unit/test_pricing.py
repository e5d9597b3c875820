from hypothesis import given
from hypothesis import strategies as st

from oggy.contract.default_prices import default_catalog
from oggy.contract.pricing import Price, PriceCatalog, PriceEntry, TokenCounts, cost_micro_usd

CATALOG = default_catalog()


def test_gpt4o_mini_exact_cost() -> None:
    # 1,000 input at $0.15/1M + 500 output at $0.60/1M = 150 + 300 micro-USD.
    cost = CATALOG.price("openai", "gpt-4o-mini", 1_800_000_000, TokenCounts(1000, 0, 0, 500))
    assert cost is not None
    assert cost.micro_usd == 450
    assert cost.catalog_version == CATALOG.version


def test_cached_and_reasoning_priced_at_their_own_rates() -> None:
    price = Price(input=2_000_000, output=8_000_000, cached_input=500_000, reasoning=16_000_000)
    tokens = TokenCounts(input=1000, cached_input=2000, output=300, reasoning=100)
    # 1000*2 + 2000*0.5 + 200*8 + 100*16 = 2000 + 1000 + 1600 + 1600
    assert cost_micro_usd(tokens, price) == 6200


def test_anthropic_cache_write_and_read() -> None:
    tokens = TokenCounts(input=100, cached_input=10_000, cache_write=2_000, output=50)
    cost = CATALOG.price("anthropic", "claude-sonnet-4-20250514", 1_800_000_000, tokens)
    assert cost is not None
    # 100*3 + 10000*0.3 + 2000*3.75 + 50*15 = 300 + 3000 + 7500 + 750
    assert cost.micro_usd == 11_550


def test_dated_snapshot_matches_family_and_longest_glob_wins() -> None:
    mini = CATALOG.lookup("openai", "gpt-4o-mini-2024-07-18", 1_800_000_000)
    full = CATALOG.lookup("openai", "gpt-4o-2024-08-06", 1_800_000_000)
    assert mini is not None and mini.price.input == 150_000
    assert full is not None and full.price.input == 2_500_000


def test_unknown_model_has_no_price_not_zero() -> None:
    assert CATALOG.price("openai", "my-finetune", 1_800_000_000, TokenCounts(10, 0, 0, 10)) is None


def test_effective_dates_pick_the_version_in_force() -> None:
    old = PriceEntry("openai", "m", 100, Price(input=1_000_000, output=1_000_000))
    new = PriceEntry("openai", "m", 200, Price(input=2_000_000, output=2_000_000))
    catalog = PriceCatalog("v2", [new, old])
    assert catalog.lookup("openai", "m", 150) == old
    assert catalog.lookup("openai", "m", 200) == new
    assert catalog.lookup("openai", "m", 50) is None


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**7), st.integers(0, 10**7))
def test_cost_is_monotonic_in_tokens(inp: int, out: int, price_in: int, price_out: int) -> None:
    price = Price(input=price_in, output=price_out)
    base = cost_micro_usd(TokenCounts(input=inp, output=out), price)
    assert cost_micro_usd(TokenCounts(input=inp + 1, output=out), price) >= base
    assert cost_micro_usd(TokenCounts(input=inp, output=out + 1), price) >= base
    assert base >= 0
