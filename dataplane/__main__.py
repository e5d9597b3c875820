"""`python -m dataplane ...`: the same flags as `oggy dataplane`."""

from __future__ import annotations

import argparse
import sys

from dataplane.server import run
from dataplane.settings import SettingsError, add_arguments, from_args


def main(argv: list[str] | None = None, prog: str = "python -m dataplane") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = from_args(args)
    except SettingsError as e:
        parser.error(str(e))
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
