"""Config: the stream client, deltas, and the compiled snapshot."""
