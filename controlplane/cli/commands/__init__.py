"""One module per noun (`oggy workspace|key|provider|usage ...`) plus the server commands.

Each module has `register(subparsers, common, scoped)`; `common` carries the admin
connection and `--format` flags, `scoped` adds `--workspace`. Handlers take a Context and
return an exit code.
"""
