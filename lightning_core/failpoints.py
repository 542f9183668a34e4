"""Named points of an import where a crash test can kill it (SIGKILL to its process group).

Off unless ``TIDB_LIGHTNING_FAILPOINTS`` names a log file: every process of the import then
appends the name of each point it reaches to that file, and with ``TIDB_LIGHTNING_KILL_AT=
<name>:<n>`` the process that reaches ``<name>`` for the ``n``-th time (counted over all
processes) kills the whole process group. ``lightning_core.testing.crash`` drives them.
"""

from __future__ import annotations

import os
import signal

LOG_ENV = "TIDB_LIGHTNING_FAILPOINTS"
KILL_ENV = "TIDB_LIGHTNING_KILL_AT"

_LOG = os.environ.get(LOG_ENV)


def reach(name: str) -> None:
    """Note that the import reached point ``name``; kill it here if asked to."""
    if _LOG is None:
        return
    line = f"{name}\n".encode()
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)  # one small O_APPEND write: lines of processes never interleave
    finally:
        os.close(fd)
    wanted, _, count = os.environ.get(KILL_ENV, "").rpartition(":")
    if wanted != name:
        return
    with open(_LOG, "rb") as log:
        reached = sum(1 for entry in log if entry == line)
    if reached >= int(count):
        os.killpg(os.getpgrp(), signal.SIGKILL)
