"""The control plane runs on SQLite without the `postgres` extra (psycopg) installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Runs in a fresh interpreter in which every psycopg* import fails, as if not installed.
SCRIPT = textwrap.dedent(
    """
    import asyncio, sys

    class NoPsycopg:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("psycopg", "psycopg_pool", "psycopg_binary"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoPsycopg())

    import controlplane.cli.main
    import controlplane.server
    from controlplane.usage import open_usage_store
    from controlplane.usage.errors import UsageStoreConfigError

    async def main():
        store = open_usage_store(sys.argv[1])
        await store.close()

    asyncio.run(main())
    try:
        open_usage_store("postgresql://postgres@127.0.0.1:1/test")
    except UsageStoreConfigError as exc:
        print(exc)
    assert not [m for m in sys.modules if m.startswith("psycopg")]
    """
)


def test_sqlite_needs_no_psycopg_and_postgresql_names_the_extra(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite://{tmp_path}/usage.db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "needs psycopg" in done.stdout
    assert "pip install 'oggy[postgres]'" in done.stdout
