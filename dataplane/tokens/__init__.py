"""Offline tiktoken encodings, verified against tiktoken's published hashes."""

from dataplane.tokens.encodings import (
    ENCODING_SHA256,
    EncodingUnavailable,
    counter_for_model,
    encoding_for_model,
    load_encoding,
    loaded_counter,
    loaded_encoding,
    loaded_encoding_for_model,
    warm_encodings,
)

__all__ = [
    "ENCODING_SHA256",
    "EncodingUnavailable",
    "counter_for_model",
    "encoding_for_model",
    "load_encoding",
    "loaded_counter",
    "loaded_encoding",
    "loaded_encoding_for_model",
    "warm_encodings",
]
