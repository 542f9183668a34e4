"""Progress lines and the summary: the rate and ETA count only this run's work."""

from __future__ import annotations

import io

import pytest

from lightning_core.context import TableSummary
from lightning_core.pipeline import progress as progress_module
from lightning_core.pipeline.progress import ProgressReporter, summary_text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(progress_module.time, "monotonic", fake)
    return fake


def test_eta_after_a_resume_uses_only_this_runs_rate(clock: FakeClock) -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(
        total_bytes=1000 * 1024, done_bytes=600 * 1024, tables=2, stream=stream, log_interval=60
    )
    clock.now += 10
    reporter.advance(rows=100, nbytes=100 * 1024)  # 10 KiB/s in this run
    line = reporter.line()
    assert line.startswith(" 70.0%")
    assert "10.0 KiB/s" in line
    assert "ETA 30s" in line  # 300 KiB left at 10 KiB/s, not skewed by the 600 KiB done before
    assert "\r" in stream.getvalue() and "tables 0/2" in stream.getvalue()


def test_progress_is_logged_without_a_terminal(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = ProgressReporter(
        total_bytes=100, done_bytes=0, tables=1, stream=None, log_interval=5
    )
    caplog.set_level("INFO", logger="lightning.progress")
    clock.now += 1
    reporter.advance(rows=1, nbytes=10)
    assert not caplog.records  # within the interval
    clock.now += 5
    reporter.advance(rows=1, nbytes=10)
    assert "progress:  20.0%" in caplog.records[-1].getMessage()


def test_summary_has_every_table_and_totals() -> None:
    text = summary_text(
        [
            TableSummary(table="`a`.`t`", rows=10, bytes=2048, seconds=1.0),
            TableSummary(table="`a`.`u`", rows=5, bytes=1024, seconds=2.0),
        ],
        elapsed=3.0,
        run_rows=15,
        run_bytes=3072,
    )
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["`a`.`t`", "10"]
    assert lines[-1].split()[:2] == ["total", "15"]
    assert "this run: 1.0 KiB/s, 5 rows/s" in lines[-1]
