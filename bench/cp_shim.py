"""`oggy controlplane` with its etcd client allowed to receive large responses.

    python bench/cp_shim.py controlplane --etcd ... (same arguments as `oggy`)

The control plane's EtcdStore builds `aetcd.Client` without channel options, so gRPC's
default 4 MiB receive limit applies: a workspace range read (start-up, resync) or a
watch response bigger than that fails with RESOURCE_EXHAUSTED. With 100,000 gateway keys
the `workspaces/` range is ~21 MB, so an unmodified control plane cannot start or resync.
This shim raises the limit (the one-line fix for controlplane/store/etcd.py is to pass
the same `options` to `aetcd.Client`) and then runs the real CLI, unchanged otherwise.
The actor-scale section of bench/run.py uses it for the control plane that serves the
seeded workspace; RESULTS.md says so.
"""

from __future__ import annotations

import aetcd

from controlplane.cli import main as cli
from controlplane.store import etcd

MAX_RECEIVE_BYTES = 256 * 1024 * 1024


class LargeResponseClient(aetcd.Client):
    def __init__(self, *args: object, **kwargs: object) -> None:
        options = dict(kwargs.pop("options", None) or {})  # type: ignore[call-overload]
        options.setdefault("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)
        super().__init__(*args, options=options, **kwargs)  # type: ignore[arg-type]


etcd.aetcd.Client = LargeResponseClient  # type: ignore[misc]

if __name__ == "__main__":
    cli.main()
