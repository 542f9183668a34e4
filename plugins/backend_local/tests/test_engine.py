"""Engines on local disk: runs, merge, duplicate detection, ranges, idempotent steps."""

from __future__ import annotations

from pathlib import Path

import pytest
from lightning_backend_local.engine import LocalEngine, RangeLimits, RunWriter
from lightning_backend_local.sst import sst_options
from rocksdict import Rdict

from lightning_core import DuplicateKeyError, Engine, record_prefix

ENGINE = Engine("`db`.`t`", 0)
LIMITS = RangeLimits(size=1 << 30, keys=1 << 30)


def _key(handle: int) -> bytes:
    return record_prefix(7) + (handle + (1 << 63)).to_bytes(8, "big")


def _ranges(root: Path) -> list[tuple[bytes, bytes]]:
    files = LocalEngine(str(root), ENGINE).range_files()
    assert files is not None
    db = Rdict(str(root / "check"), sst_options())
    db.ingest_external_file(files)
    pairs = list(db.items())
    db.close()
    return pairs


def test_runs_of_several_chunks_merge_into_sorted_ranges(tmp_path: Path) -> None:
    first = RunWriter(str(tmp_path), ENGINE, "a.sql:0")
    second = RunWriter(str(tmp_path), ENGINE, "b.sql:0")
    for handle in (5, 1, 3):
        first.add([(_key(handle), b"v%d" % handle)], [handle], [handle * 10])
    first.flush(0)
    for handle in (4, 2):
        second.add([(_key(handle), b"v%d" % handle)], [handle], [handle * 10])
    second.flush(0)
    engine = LocalEngine(str(tmp_path), ENGINE)
    engine.close(RangeLimits(size=1 << 30, keys=2))
    engine.close(LIMITS)  # closed already: nothing happens
    assert len(list((engine.dir / "ranges").glob("*.sst"))) == 3
    pairs = _ranges(tmp_path)
    assert pairs == [(_key(h), b"v%d" % h) for h in range(1, 6)]


def test_a_row_written_twice_after_a_resume_is_kept_once(tmp_path: Path) -> None:
    for _attempt in range(2):
        writer = RunWriter(str(tmp_path), ENGINE, "a.sql:0")
        writer.add([(_key(1), b"same")], [0], [0])
        writer.flush(0)
    LocalEngine(str(tmp_path), ENGINE).close(LIMITS)
    assert _ranges(tmp_path) == [(_key(1), b"same")]


def test_two_source_rows_with_one_key_are_named(tmp_path: Path) -> None:
    writer = RunWriter(str(tmp_path), ENGINE, "/dump/db.t.000.sql:0")
    writer.add([(_key(1), b"first")], [0], [31])
    writer.add([(_key(1), b"second")], [1], [57])
    writer.flush(0)
    with pytest.raises(DuplicateKeyError) as failure:
        LocalEngine(str(tmp_path), ENGINE).close(LIMITS)
    message = str(failure.value)
    assert "/dump/db.t.000.sql:31" in message and "/dump/db.t.000.sql:57" in message
    assert "`db`.`t`" in message


def test_an_import_cut_short_cuts_the_ranges_again(tmp_path: Path) -> None:
    writer = RunWriter(str(tmp_path), ENGINE, "a.sql:0")
    writer.add([(_key(1), b"x")], [0], [0])
    writer.flush(0)
    engine = LocalEngine(str(tmp_path), ENGINE)
    engine.close(LIMITS)
    files = engine.range_files()
    assert files is not None
    Path(files[0]).unlink()  # as an ingest that moved the file, then a kill
    assert _ranges(tmp_path) == [(_key(1), b"x")]
    engine.mark_imported()
    assert engine.range_files() is None
    engine.cleanup()
    assert not engine.exists


def test_an_unknown_engine_is_a_no_op(tmp_path: Path) -> None:
    engine = LocalEngine(str(tmp_path), Engine("`x`.`y`", 3))
    engine.close(LIMITS)
    assert engine.range_files() is None
    engine.cleanup()
