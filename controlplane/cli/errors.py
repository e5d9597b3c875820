"""The CLI's one error type: a message for the user, printed as `error: ...`."""

from __future__ import annotations


class CliError(Exception):
    """A usage or environment problem the user can fix; never shown with a traceback."""
