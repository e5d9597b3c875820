"""`python -m controlplane.cli.die_with_parent PARENT_PID CMD [ARG...]`: exec CMD so that
the kernel sends it SIGTERM when PARENT_PID dies (Linux PR_SET_PDEATHSIG, which survives
exec).

A launcher of its own rather than a `preexec_fn`: a preexec_fn makes subprocess fork()
instead of vfork(), so the child runs every pthread_atfork handler of the parent, and
gRPC's abort the child (SIGABRT) when other threads are inside gRPC at that moment, as
in a process that talks to the control plane while it starts children.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent_pid, command = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except OSError:
            pass  # no libc to ask: the child is merely not tied to us
    # The parent may have died before prctl took effect: then nobody would signal us.
    if os.getppid() != parent_pid:
        os._exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
