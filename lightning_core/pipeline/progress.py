"""Progress while importing (a bar on a terminal, log lines otherwise) and the final summary."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from typing import TextIO

from lightning_core.context import TableSummary

log = logging.getLogger("lightning.progress")


def human_bytes(n: float) -> str:
    """``1.5 MiB``-style size."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    """``1h02m03s``-style duration."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class ProgressReporter:
    """Counts rows and bytes; the rate and ETA use only this run's work, so a resume stays right.

    :param total_bytes: bytes of all data to import.
    :param done_bytes: bytes already imported by earlier runs.
    :param tables: number of tables.
    :param stream: where a terminal bar is drawn (None: log lines only).
    :param log_interval: seconds between progress log lines.
    """

    def __init__(
        self,
        *,
        total_bytes: int,
        done_bytes: int,
        tables: int,
        stream: TextIO | None,
        log_interval: float,
    ) -> None:
        self.total_bytes = max(total_bytes, 1)
        self.done_bytes = done_bytes
        self.rows = 0
        self.tables = tables
        self.tables_done = 0
        self._stream = stream
        self._log_interval = log_interval
        self._start = time.monotonic()
        self._start_bytes = done_bytes
        self._last_draw = 0.0
        self._last_log = self._start
        self.chunks: Counter[str] = Counter()
        """Chunks by state (``estimated``, ``pending``, ``running``, ``finished``, ``failed``)."""
        self.engines: Counter[tuple[str, str]] = Counter()
        """Engines by (``data`` or ``index``, ``closed`` or ``imported``)."""

    def chunk_moved(self, before: str | None, after: str) -> None:
        """A chunk went from state ``before`` (None: newly planned) to ``after``."""
        if before is not None:
            self.chunks[before] -= 1
        self.chunks[after] += 1

    def engine_reached(self, kind: str, state: str) -> None:
        """An engine of ``kind`` (data, index) was closed or imported."""
        self.engines[(kind, state)] += 1

    def advance(self, rows: int, nbytes: int) -> None:
        """A batch was committed."""
        self.rows += rows
        self.done_bytes += nbytes
        self._maybe_show()

    @property
    def run_bytes(self) -> int:
        """Bytes imported by this run (not by the runs it resumes)."""
        return self.done_bytes - self._start_bytes

    def table_finished(self) -> None:
        """A table was fully imported and verified."""
        self.tables_done += 1
        self._maybe_show(force=True)

    def line(self) -> str:
        """One line: percent, tables, bytes, rows, rate and ETA."""
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = (self.done_bytes - self._start_bytes) / elapsed
        fraction = min(self.done_bytes / self.total_bytes, 1.0)
        remaining = self.total_bytes - self.done_bytes
        eta = human_seconds(remaining / rate) if rate > 0 and remaining > 0 else "-"
        return (
            f"{fraction * 100:5.1f}% | tables {self.tables_done}/{self.tables} | "
            f"{human_bytes(self.done_bytes)}/{human_bytes(self.total_bytes)} | "
            f"{self.rows} rows | {human_bytes(rate)}/s | ETA {eta}"
        )

    def _maybe_show(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._stream is not None and (force or now - self._last_draw >= 0.2):
            self._last_draw = now
            self._stream.write("\r" + self.line() + "\x1b[K")
            self._stream.flush()
        if force or now - self._last_log >= self._log_interval:
            self._last_log = now
            log.info("progress: %s", self.line())

    def finish(self) -> None:
        """End the bar's line."""
        if self._stream is not None:
            self._stream.write("\r" + self.line() + "\x1b[K\n")
            self._stream.flush()


def terminal_stream() -> TextIO | None:
    """stderr when it is a terminal, else None."""
    return sys.stderr if sys.stderr.isatty() else None


def summary_text(
    tables: list[TableSummary], elapsed: float, *, run_rows: int, run_bytes: float
) -> str:
    """The final per-table and total summary; the rate counts only this run's rows and bytes
    (a resumed run's totals include what earlier runs imported)."""
    width = max([len(t.table) for t in tables] + [5])
    # the target changed or refused rows: a column says how many, per table
    flagged = any(t.warnings or t.skipped for t in tables)
    lines = [
        f"{'table':<{width}}  {'rows':>12}  {'bytes':>11}  {'time':>8}"
        + ("  warnings/skipped" if flagged else "")
    ]
    for t in tables:
        lines.append(
            f"{t.table:<{width}}  {t.rows:>12}  {human_bytes(t.bytes):>11}  "
            f"{human_seconds(t.seconds):>8}" + (f"  {t.warnings}/{t.skipped}" if flagged else "")
        )
    rows = sum(t.rows for t in tables)
    nbytes = sum(t.bytes for t in tables)
    seconds = max(elapsed, 1e-6)
    lines.append(
        f"{'total':<{width}}  {rows:>12}  {human_bytes(nbytes):>11}  "
        f"{human_seconds(elapsed):>8}  "
        f"(this run: {human_bytes(run_bytes / seconds)}/s, {run_rows / seconds:.0f} rows/s)"
    )
    return "\n".join(lines)
