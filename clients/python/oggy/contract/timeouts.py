"""A provider credential's upstream timeouts: the proto's Durations → seconds, checked once.

Both planes read them here: the admin API refuses a bad value (INVALID_ARGUMENT)
with the very check the compiler applies to a snapshot (ConfigError). An unset
(or zero) field means "the data plane's default", so a credential only says
what differs, and the data plane's flags stay the fleet-wide knob.
"""

from __future__ import annotations

from dataclasses import dataclass

from oggy.v1 import provider_pb2

# Longer than any sane wait for a provider; a typo (hours, not seconds) is refused.
MAX_TIMEOUT_S = 3600.0
FIELDS = ("connect", "first_byte", "idle")


class TimeoutsError(ValueError):
    """A timeout is negative, malformed or too long; the message names the field."""


@dataclass(frozen=True, slots=True)
class UpstreamTimeouts:
    """Seconds; None: the data plane's default."""

    connect_s: float | None = None
    first_byte_s: float | None = None  # until the response headers
    idle_s: float | None = None  # between two chunks of the body

    def over(self, defaults: UpstreamTimeouts) -> UpstreamTimeouts:
        """These values where set, else the defaults'."""
        return UpstreamTimeouts(
            defaults.connect_s if self.connect_s is None else self.connect_s,
            defaults.first_byte_s if self.first_byte_s is None else self.first_byte_s,
            defaults.idle_s if self.idle_s is None else self.idle_s,
        )


NO_TIMEOUTS = UpstreamTimeouts()
# The data plane's defaults (`oggy dataplane` / `oggy up` flags), chosen for streaming
# chat (README "Upstream timeouts"): a healthy connect takes well under a second (5 s
# allows SYN retransmits); a non-streaming completion sends its headers only when it
# is done, so 120 s covers long answers and most reasoning; a stream that is silent
# for 60 s (providers send tokens or pings every few seconds) is stuck.
DEFAULT_TIMEOUTS = UpstreamTimeouts(connect_s=5.0, first_byte_s=120.0, idle_s=60.0)


def provider_timeouts(p: provider_pb2.ProviderCredential) -> UpstreamTimeouts:
    """The credential's timeouts; raises TimeoutsError (message: `timeouts.<field> ...`)."""
    if not p.HasField("timeouts"):
        return NO_TIMEOUTS
    t = p.timeouts
    connect, first_byte, idle = (_seconds(t, name) for name in FIELDS)
    return UpstreamTimeouts(connect, first_byte, idle)


def _seconds(t: provider_pb2.UpstreamTimeouts, name: str) -> float | None:
    if not t.HasField(name):
        return None
    d = getattr(t, name)
    if d.seconds < 0 or not 0 <= d.nanos < 1_000_000_000:
        raise TimeoutsError(f"timeouts.{name} must be a non-negative duration")
    seconds = d.seconds + d.nanos / 1e9
    if seconds > MAX_TIMEOUT_S:
        raise TimeoutsError(f"timeouts.{name} must be at most {MAX_TIMEOUT_S:g} s")
    return seconds or None  # zero reads as unset: the data plane's default
