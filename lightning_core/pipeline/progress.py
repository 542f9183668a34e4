"""Progress while importing (a bar on a terminal, log lines otherwise) and the final summary."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from typing import Literal, TextIO

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


#: Upper bounds (seconds) of ``lightning_import_seconds``'s buckets: 0.125 s doubling to 18 h.
IMPORT_SECONDS_BUCKETS = tuple(0.125 * 2**k for k in range(20))

RangeState = Literal["cut", "imported"]

#: The step after each one of ``TABLE_STEPS``, by TiDB Lightning's metric name of its status
#: (``lightning_tables{state=...,result="failure"}`` names the step that failed).
_FAILED_STEP = {
    "pending": "written",
    "written": "index_imported",
    "imported": "altered_auto_inc",
    "rebased": "checksum",
    "checksummed": "analyzed",
}

_reporter: ProgressReporter | None = None
"""The reporter of the run in this process, for :func:`report_ranges`."""


def report_ranges(state: RangeState, count: int = 1) -> None:
    """A backend's hook: ``count`` ranges (region-sized pieces of an engine) were cut when
    an engine closed, or imported into the target. Counted in ``/metrics`` as
    ``lightning_ranges{state=...}``; call it from the coordinating ``Backend`` (the main
    process), from any thread. Nothing happens when no import runs in the process."""
    reporter = _reporter
    if reporter is not None:
        reporter.ranges_reached(state, count)


class ProgressReporter:
    """Counts rows, bytes, engines and tables, and shows the phase the import is in: writing
    (source bytes written, rate, ETA), importing (engines closed and imported of all, ETA from
    the engines imported so far), post-import (tables verified of all). The rate and ETAs use
    only this run's work, so a resume stays right.

    :param total_bytes: bytes of all data to import.
    :param done_bytes: bytes already imported by earlier runs.
    :param tables: number of tables.
    :param stream: where a terminal bar is drawn (None: log lines only).
    :param log_interval: seconds between progress log lines.
    :param engines: engines of the task (data and index; 0 for backends without engines).
    :param engines_done: of those, engines imported by earlier runs.
    :param tables_done: tables verified by earlier runs.
    """

    def __init__(
        self,
        *,
        total_bytes: int,
        done_bytes: int,
        tables: int,
        stream: TextIO | None,
        log_interval: float,
        engines: int = 0,
        engines_done: int = 0,
        tables_done: int = 0,
    ) -> None:
        global _reporter
        self.total_bytes = max(total_bytes, 1)
        self.done_bytes = done_bytes
        self.rows = 0
        self.tables = tables
        self.tables_done = tables_done
        self.engines_total = engines
        self.engines_done_before = engines_done
        self._stream = stream
        self._log_interval = log_interval
        self._start = time.monotonic()
        self._start_bytes = done_bytes
        self._last_draw = 0.0
        self._last_log = self._start
        self._lock = threading.Lock()
        self.chunks: Counter[str] = Counter()
        """Chunks by state (``estimated``, ``pending``, ``running``, ``finished``, ``failed``)."""
        self.engines: Counter[tuple[str, str]] = Counter()
        """Engines by (``data`` or ``index``, ``closed`` or ``imported``)."""
        self.ranges: Counter[str] = Counter()
        """Ranges by state (``cut``, ``imported``), as the backend reports them."""
        self.failed_tables: Counter[str] = Counter()
        """Failed tables by the step that failed, as Lightning names it (``written``,
        ``index_imported``, ``altered_auto_inc``, ``checksum``, ``analyzed``)."""
        self.import_seconds = [0] * len(IMPORT_SECONDS_BUCKETS)
        """Engine imports by the first bucket bound they fit under (``+Inf``: not counted)."""
        self.import_seconds_sum = 0.0
        self.import_seconds_count = 0
        self._closed_at: dict[str, float] = {}
        _reporter = self

    def chunk_moved(self, before: str | None, after: str) -> None:
        """A chunk went from state ``before`` (None: newly planned) to ``after``."""
        if before is not None:
            self.chunks[before] -= 1
        self.chunks[after] += 1

    def engine_reached(self, kind: str, state: str, engine: str = "") -> None:
        """An engine of ``kind`` (data, index) was closed or imported; with the engine's tag,
        the time from its close to its import is observed as its import time."""
        now = time.monotonic()
        self.engines[(kind, state)] += 1
        if state == "closed" and engine:
            self._closed_at[engine] = now
        elif state == "imported" and engine in self._closed_at:
            self._observe_import(now - self._closed_at.pop(engine))
        self._maybe_show()

    def _observe_import(self, seconds: float) -> None:
        self.import_seconds_sum += seconds
        self.import_seconds_count += 1
        for index, bound in enumerate(IMPORT_SECONDS_BUCKETS):
            if seconds <= bound:
                self.import_seconds[index] += 1
                return

    def ranges_reached(self, state: RangeState, count: int) -> None:
        """``count`` ranges were cut or imported (see :func:`report_ranges`)."""
        with self._lock:
            self.ranges[state] += count

    def table_failed(self, reached: str) -> None:
        """A table failed after reaching step ``reached``; counted under TiDB Lightning's
        metric name of the step that failed."""
        self.failed_tables[_FAILED_STEP.get(reached, "invalid")] += 1

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

    @property
    def engines_imported(self) -> int:
        """Engines imported, by this run and the ones it resumes."""
        return self.engines_done_before + sum(
            n for (_, state), n in self.engines.items() if state == "imported"
        )

    @property
    def phase(self) -> str:
        """``writing``, ``importing``, ``post-import`` or ``done``."""
        if self.done_bytes < self.total_bytes:
            return "writing"
        if self.engines_imported < self.engines_total:
            return "importing"
        return "post-import" if self.tables_done < self.tables else "done"

    def line(self) -> str:
        """One line: percent and phase; bytes, rate and ETA of the writing; engines closed and
        imported (with the import's ETA); tables verified; rows."""
        elapsed = max(time.monotonic() - self._start, 1e-6)
        rate = (self.done_bytes - self._start_bytes) / elapsed
        fraction = min(self.done_bytes / self.total_bytes, 1.0)
        remaining = self.total_bytes - self.done_bytes
        eta = human_seconds(remaining / rate) if rate > 0 and remaining > 0 else "-"
        parts = [
            f"{fraction * 100:5.1f}% {self.phase}",
            f"tables {self.tables_done}/{self.tables}",
            f"{human_bytes(self.done_bytes)}/{human_bytes(self.total_bytes)}",
            f"{self.rows} rows",
            f"{human_bytes(rate)}/s",
            f"ETA {eta}",
        ]
        if self.engines_total:
            closed = self.engines_done_before + sum(
                n for (_, state), n in self.engines.items() if state == "closed"
            )
            imported = self.engines_imported
            left = self.engines_total - imported
            engines = f"engines closed {closed}/{self.engines_total}, imported {imported}/"
            engines += str(self.engines_total)
            if left > 0 and self.import_seconds_count:
                mean = self.import_seconds_sum / self.import_seconds_count
                engines += f" ETA {human_seconds(left * mean)}"
            parts.append(engines)
        return " | ".join(parts)

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
        """End the bar's line; the reporter no longer counts what backends report."""
        global _reporter
        if _reporter is self:
            _reporter = None
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
