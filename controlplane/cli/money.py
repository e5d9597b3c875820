"""Money on the command line: exact USD decimals in, integer micro-USD out, and back.

The API counts money in integer micro-USD (and prices in micro-USD per one million
tokens), so `2.5` must become exactly 2500000: amounts are parsed with `Decimal`, never
float, and an amount finer than a micro-dollar is refused rather than rounded.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from controlplane.cli.errors import CliError

MICRO = 10**6
_INT64_MAX = 2**63 - 1


def parse_usd(text: str, flag: str = "amount") -> int:
    """`"2.50"` or `"$0.15"` → micro-USD (2500000, 150000); at most 6 decimals, not negative."""
    value = text.strip().removeprefix("$").replace("_", "")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise CliError(f"invalid {flag} {text!r}: expected USD like 2.50") from None
    if not amount.is_finite():
        raise CliError(f"invalid {flag} {text!r}: expected USD like 2.50")
    if amount < 0:
        raise CliError(f"invalid {flag} {text!r}: must not be negative")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise CliError(f"invalid {flag} {text!r}: at most 6 decimals (one micro-dollar)")
    result = int(micro)
    if result > _INT64_MAX:
        raise CliError(f"invalid {flag} {text!r}: too large")
    return result


def format_usd(micro_usd: int) -> str:
    """2500000 → `$2.500000`; exact, with integer arithmetic."""
    sign = "-" if micro_usd < 0 else ""
    whole, frac = divmod(abs(micro_usd), MICRO)
    return f"{sign}${whole}.{frac:06d}"


def format_cost(cost_micro_usd: int, requests: int, unpriced_requests: int) -> str:
    """A summary row's cost: `$…`, `unknown` when nothing was priced, or both when mixed."""
    if requests > 0 and unpriced_requests >= requests:
        return "unknown"
    text = format_usd(cost_micro_usd)
    return f"{text} ({unpriced_requests} unpriced)" if unpriced_requests > 0 else text
