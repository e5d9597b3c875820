"""`oggy NOUN ACTION ...`: the subcommand tree every command module registers into."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from controlplane.cli.context import Context

Handler = Callable[[Context], int]


class CommandGroup:
    """One noun (`oggy key`) whose actions (`create`, `list`, ...) each take the global
    flags (`common`) and, unless told otherwise, the workspace flags (`scoped`)."""

    def __init__(
        self,
        sub: argparse._SubParsersAction,
        common: argparse.ArgumentParser,
        scoped: argparse.ArgumentParser,
        noun: str,
        help: str,
    ) -> None:
        parser = sub.add_parser(noun, help=help)
        self._actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        self._common = common
        self._scoped = scoped

    def action(
        self, name: str, handler: Handler, help: str, *, scoped: bool = True, **kw: Any
    ) -> argparse.ArgumentParser:
        """The parser of `oggy NOUN name`, run by `handler`; add its own flags to it."""
        parents = [self._common, self._scoped] if scoped else [self._common]
        parser = self._actions.add_parser(name, parents=parents, help=help, **kw)
        parser.set_defaults(handler=handler)
        return parser


def unscoped_action(name: str, handler: Handler, help: str) -> Callable[[CommandGroup], None]:
    """The `register` of a noun with one action and no workspace flags (`oggy secrets`)."""

    def register(group: CommandGroup) -> None:
        group.action(name, handler, help, scoped=False)

    return register
