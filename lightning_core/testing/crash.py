"""A crash harness for any backend: kill an import (SIGKILL to its whole process group) at
named points of every phase, resume it until it finishes, and let the test compare the result
with the source.

The points are the core's failpoints (:mod:`lightning_core.failpoints`) plus any a backend
adds with ``lightning_core.failpoint(name)``. ``count_points`` runs the import once and counts
how often each point is reached; ``spread`` picks kill points over all of them (the first, the
last and evenly between); ``kill_and_resume`` runs one kill and the resumes::

    counts = count_points(command, reset=reset)
    for point in spread(counts, 20):
        reset()
        runs = kill_and_resume(command, point)
        assert source_checksum == target_checksum()
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from lightning_core.failpoints import KILL_ENV, LOG_ENV


@attrs.frozen
class KillPoint:
    """Kill the import the ``hit``-th time any of its processes reaches ``name``."""

    name: str
    hit: int

    def __str__(self) -> str:
        return f"{self.name}:{self.hit}"


@attrs.frozen
class Run:
    """One run of the import command."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        """True when the harness's SIGKILL ended it."""
        return self.returncode == -signal.SIGKILL


def run_once(
    command: Sequence[str],
    *,
    kill_at: KillPoint | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> Run:
    """Run the import once in its own process group, killed at ``kill_at`` if given."""
    return _run(command, env or {}, kill_at=kill_at, timeout=timeout)[0]


def _run(
    command: Sequence[str], env: dict[str, str], *, kill_at: KillPoint | None, timeout: float
) -> tuple[Run, Counter[str]]:
    with tempfile.TemporaryDirectory(prefix="lightning-crash-") as scratch:
        log = Path(scratch) / "failpoints.log"
        full = {**os.environ, **env, LOG_ENV: str(log)}
        full.pop(KILL_ENV, None)
        if kill_at is not None:
            full[KILL_ENV] = str(kill_at)
        done = subprocess.run(
            list(command),
            env=full,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,  # its own process group: the kill takes only the import
        )
        reached = Counter(log.read_text().split()) if log.exists() else Counter()
    return Run(done.returncode, done.stdout, done.stderr), reached


def count_points(
    command: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600
) -> Counter[str]:
    """Run the import to its end and count how often each point was reached."""
    run, reached = _run(command, env or {}, kill_at=None, timeout=timeout)
    if run.returncode != 0:
        raise AssertionError(f"the import failed without a kill:\n{run.stdout}\n{run.stderr}")
    return reached


def spread(counts: Counter[str], total: int) -> list[KillPoint]:
    """About ``total`` kill points over every point name: each name's first and last hit,
    then hits evenly between, the busiest names getting the most."""
    names = sorted(counts)
    chosen: set[KillPoint] = set()
    for name in names:
        chosen.add(KillPoint(name, 1))
        chosen.add(KillPoint(name, counts[name]))
    spare = max(0, total - len(chosen))
    everything = sum(counts.values())
    for name in names:
        extra = round(spare * counts[name] / everything) if everything else 0
        for step in range(1, extra + 1):
            chosen.add(KillPoint(name, max(1, counts[name] * step // (extra + 1))))
    return sorted(chosen, key=lambda p: (p.name, p.hit))


def kill_and_resume(
    command: Sequence[str],
    point: KillPoint,
    *,
    env: dict[str, str] | None = None,
    resumes: int = 3,
    timeout: float = 600,
    check_resume: Callable[[Run], None] | None = None,
) -> list[Run]:
    """Run the import killed at ``point``, then run it again until it succeeds.

    :param check_resume: called with every resumed run (e.g. to look at its output).
    :returns: every run, the killed one first.
    :raises AssertionError: the kill did not happen, or the import did not finish within
        ``resumes`` further runs.
    """
    first, _ = _run(command, env or {}, kill_at=point, timeout=timeout)
    if not first.killed:
        raise AssertionError(
            f"the import was not killed at {point} (exit {first.returncode}):\n"
            f"{first.stdout}\n{first.stderr}"
        )
    runs = [first]
    for _ in range(resumes):
        again, _ = _run(command, env or {}, kill_at=None, timeout=timeout)
        runs.append(again)
        if check_resume is not None:
            check_resume(again)
        if again.returncode == 0:
            return runs
    last = runs[-1]
    raise AssertionError(
        f"after a kill at {point}, {resumes} resumed runs did not finish; the last one:\n"
        f"{last.stdout}\n{last.stderr}"
    )
