"""Pure, synchronous data-plane logic: no I/O, clock and randomness injected."""
