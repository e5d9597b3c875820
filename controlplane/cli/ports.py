"""Loopback ports for `oggy up`: reuse the ones a previous run chose, else pick free ones.

Reusing matters: etcd remembers its peer URL in its data dir, and the demo provider
credential stores the mock's base URL, so stable ports mean nothing has to be rewritten.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

PORTS_FILE = "ports.json"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        # Like the servers that will bind it: a port in TIME_WAIT counts as free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def load(state_dir: Path) -> dict[str, int]:
    try:
        data = json.loads((state_dir / PORTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int) and 0 < v < 65536}


def save(state_dir: Path, ports: dict[str, int]) -> None:
    (state_dir / PORTS_FILE).write_text(json.dumps(ports, indent=2) + "\n", encoding="utf-8")


def pick(saved: dict[str, int], name: str, taken: set[int] | None = None) -> int:
    """The saved port for `name` if it is free now, else a fresh free port."""
    taken = taken or set()
    port = saved.get(name)
    if port and port not in taken and is_free(port):
        return port
    while True:
        port = free_port()
        if port not in taken:
            return port
