"""``[tikv-importer] disk-quota``: an import whose engines would hold several times the quota
completes with the content of an import without one, while the bytes under sorted-kv-dir —
measured here by walking it all along — stay within the quota and one flush per worker; a quota
too small to go on stops with one line."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lightning_backend_local.store import EmbeddedStore

from lightning_core.testing.crash import Run, count_points, kill_and_resume, spread
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

FILES = 3
ROWS_PER_FILE = 12_000
QUOTA = 1 << 20
FLUSH = 128 << 10
"""``local-writer-mem-cache-size``: the bytes a writer buffers (more than its run on disk)."""
WORKERS = 2


def make_dump(root: Path) -> Path:
    dump = root / "dump"
    dump.mkdir()
    (dump / "q-schema-create.sql").write_text("CREATE DATABASE q;\n")
    (dump / "q.t-schema.sql").write_text(
        "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), v INT, KEY kv (v));\n"
    )
    for number in range(FILES):
        rows = [
            (i, f"name {i:08d} of file {number}", i % 977)
            for i in range(number * ROWS_PER_FILE, (number + 1) * ROWS_PER_FILE)
        ]
        write_sql_dump(str(dump / f"q.t.{number:09d}.sql"), "t", None, rows, rows_per_statement=100)
    return dump


def config_file(root: Path, dump: Path, importer: str, conflict: str = "") -> Path:
    text = task_config(
        dump, backend="local", checkpoint=root / "cp.json", region_concurrency=WORKERS
    )
    text = text.replace(
        "[tikv-importer]\n",
        f'[tikv-importer]\nsorted-kv-dir = "{root / "sorted"}"\n'
        f'local-writer-mem-cache-size = "{FLUSH}B"\nregion-split-size = "{FLUSH}B"\n{importer}',
    )
    text += f"[conflict]\n{conflict}" if conflict else ""
    text += f'[plugin.local]\nstore-dir = "{root / "store"}"\n'
    text += f'conflict-dir = "{root / "conflicts"}"\n'
    path = root / "tidb-lightning.toml"
    path.write_text(text)
    return path


def bytes_under(directory: Path) -> int:
    """The bytes of the files under ``directory``, a file with two names (an ingest links a
    run into a database before it removes the run) counted once."""
    sizes = {}
    for parent, _dirs, files in os.walk(directory):
        for name in files:
            try:
                found = os.stat(os.path.join(parent, name))
            except FileNotFoundError:
                continue  # moved or removed while walking
            sizes[found.st_dev, found.st_ino] = found.st_size
    return sum(sizes.values())


@contextmanager
def peak_bytes(directory: Path) -> Iterator[list[int]]:
    """The most bytes seen under ``directory`` while the block runs (``[peak]``)."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], bytes_under(directory))
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def content(root: Path) -> list[tuple[bytes, bytes]]:
    store = EmbeddedStore.open(str(root / "store"))
    try:
        return list(store.scan(b""))
    finally:
        store.close()


def imported(root: Path, importer: str = "") -> tuple[Any, int, list[tuple[bytes, bytes]]]:
    dump = root / "dump" if (root / "dump").exists() else make_dump(root)
    config = config_file(root, dump, importer)
    with peak_bytes(root / "sorted") as peak:
        done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    return done, peak[0], content(root)


def test_an_import_over_the_quota_stays_within_it_and_imports_everything(
    tmp_path: Path,
) -> None:
    (tmp_path / "free").mkdir()
    (tmp_path / "quota").mkdir()
    _free, free_peak, expected = imported(tmp_path / "free")
    done, peak, pairs = imported(tmp_path / "quota", f'disk-quota = "{QUOTA}B"\n')
    log = done.stdout + done.stderr
    assert "checksum pass" in log
    assert pairs == expected and len(expected) == 2 * FILES * ROWS_PER_FILE
    early = log.count("disk quota reached: importing engine")
    print(f"peak under sorted-kv-dir: {free_peak} B without a quota, {peak} B with {QUOTA} B "
          f"({early} early imports)")  # fmt: skip
    assert free_peak > 2 * QUOTA  # without the quota the engines hold far more
    assert early >= 2
    assert peak <= QUOTA + WORKERS * FLUSH, (peak, QUOTA + WORKERS * FLUSH)


def test_a_quota_too_small_for_whole_engines_stops_with_one_line(tmp_path: Path) -> None:
    dump = make_dump(tmp_path)
    config = config_file(tmp_path, dump, f'disk-quota = "{QUOTA}B"\n', 'strategy = "replace"\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert f"disk-quota = {QUOTA} bytes is too small" in line, line
    assert 'strategy = "replace" imports engines only whole' in line, line
    # raised, it resumes to the end
    config.write_text(config.read_text().replace(f'disk-quota = "{QUOTA}B"\n', ""))
    resumed = run_lightning(["--config", str(config)])
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.slow
def test_kills_during_early_imports_resume_to_the_content_of_an_import_without_a_quota(
    tmp_path: Path,
) -> None:
    (tmp_path / "free").mkdir()
    _free, _peak, expected = imported(tmp_path / "free")
    root = tmp_path / "quota"
    root.mkdir()
    dump = make_dump(root)
    config = config_file(root, dump, f'disk-quota = "{QUOTA}B"\n')
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        for leftover in ("cp.json", "store", "sorted"):
            path = root / leftover
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)

    counts = count_points(command)
    assert content(root) == expected
    parts = {name for name in counts if name.startswith("local:part-")}
    assert parts == {"local:part-closed", "local:part-ingested", "local:part-imported"}, counts

    def clean(run: Run) -> None:
        assert "internal error" not in run.stderr, run.stderr

    points = [p for p in spread(counts, 24) if p.name.startswith(("local:", "engine:"))]
    print(f"{len(points)} kill points: {', '.join(map(str, points))}")
    assert len(points) >= 10
    for point in points:
        reset()
        kill_and_resume(command, point, check_resume=clean)
        assert content(root) == expected, f"killed at {point}"
