"""Progress lines and the summary: the rate and ETA count only this run's work."""

from __future__ import annotations

import io
from pathlib import Path

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


def test_the_line_shows_each_phase_with_engines_and_their_eta(clock: FakeClock) -> None:
    reporter = ProgressReporter(
        total_bytes=1000,
        done_bytes=0,
        tables=2,
        stream=None,
        log_interval=60,
        engines=4,
        engines_done=1,  # imported by the run this one resumes
    )
    clock.now += 10
    reporter.advance(rows=5, nbytes=500)
    line = reporter.line()
    assert line.startswith(" 50.0% writing |") and "ETA 10s" in line
    assert "engines closed 1/4, imported 1/4" in line
    reporter.advance(rows=5, nbytes=500)
    reporter.engine_reached("data", "closed", "`a`.`t`:0")
    clock.now += 4
    reporter.engine_reached("data", "imported", "`a`.`t`:0")  # 4 s per engine
    line = reporter.line()
    assert reporter.phase == "importing" and line.startswith("100.0% importing |")
    assert "engines closed 2/4, imported 2/4 ETA 8s" in line  # two left at 4 s each
    for tag in ("`a`.`t`:-1", "`a`.`u`:-1"):
        reporter.engine_reached("index", "closed", tag)
        reporter.engine_reached("index", "imported", tag)
    assert reporter.phase == "post-import"
    assert reporter.line().endswith("| engines closed 4/4, imported 4/4")  # no ETA left
    reporter.table_finished()
    reporter.table_finished()
    assert reporter.phase == "done" and "tables 2/2" in reporter.line()
    assert reporter.import_seconds_count == 3 and reporter.import_seconds_sum == 4.0


def test_a_backend_without_engines_shows_no_engine_counts() -> None:
    reporter = ProgressReporter(
        total_bytes=10, done_bytes=10, tables=1, stream=None, log_interval=9
    )
    assert reporter.phase == "post-import" and "engines" not in reporter.line()


def test_ranges_reported_by_a_backend_are_counted_while_a_run_lasts() -> None:
    reporter = ProgressReporter(total_bytes=10, done_bytes=0, tables=1, stream=None, log_interval=9)
    progress_module.report_ranges("cut", 3)
    progress_module.report_ranges("imported")
    assert reporter.ranges == {"cut": 3, "imported": 1}
    reporter.finish()
    progress_module.report_ranges("cut", 5)  # no run any more: nothing counts it
    assert reporter.ranges["cut"] == 3


def test_a_local_import_logs_its_engines_through_to_the_end(tmp_path: Path) -> None:
    from lightning_core.testing.tasks import run_lightning, task_config

    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "db-schema-create.sql").write_text("CREATE DATABASE `db`;\n")
    for table in ("t", "u"):
        (dump / f"db.{table}-schema.sql").write_text(
            f"CREATE TABLE `{table}` (`id` int PRIMARY KEY, `v` int, KEY (`v`));\n"
        )
        (dump / f"db.{table}.000.sql").write_text(f"INSERT INTO `{table}` VALUES (1,2),(3,4);\n")
    text = task_config(dump, backend="local", checkpoint=tmp_path / "cp.json").replace(
        "[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / "kv"}"\n'
    )
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(text + f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n')
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "progress: " in line]
    # two tables of one data engine and one index engine each
    assert lines[-1].endswith("| engines closed 4/4, imported 4/4"), lines[-1]
    assert "100.0% done | tables 2/2" in lines[-1]
