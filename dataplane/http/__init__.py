"""The OpenAI-compatible HTTP API: create_app, handlers, error mapping, upstream client."""

from dataplane.http.app import HttpOptions, create_app

__all__ = ["HttpOptions", "create_app"]
