"""Whole imports through the double, for the tests of every backend that writes into TiKV:
the double as a process of its own, and the export of an embedded-store import to compare
with."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning_backend_local.export import export_store
from lightning_core.testing.tasks import run_lightning, task_config


@contextmanager
def double_process(store_dir: Path, *, stores: int = 3, seed: int | None = None) -> Iterator[str]:
    """``lightning-tikv-double`` with ``stores`` stores (and ``--fault-seed`` ``seed``) keeping
    what it ingests in ``store_dir``: PD's address while it runs."""
    faults = ["--fault-seed", str(seed)] if seed is not None else []
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lightning_backend_local.testing import main; "
         "sys.exit(main())", "--addr", "127.0.0.1:0", "--store-dir", str(store_dir),
         "--stores", str(stores), *faults],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split()
        assert first[:1] == ["pd"], first
        yield first[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def embedded_import(work: Path, dump: Path) -> Path:
    """Import ``dump`` with the local backend into a fresh embedded store under ``work``; the
    store's directory."""
    work.mkdir(parents=True)
    text = task_config(dump, backend="local", checkpoint=work / "cp.json")
    text = text.replace("[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{work / "kv"}"\n')
    config = work / "embedded.toml"
    config.write_text(text + f'[plugin.local]\nstore-dir = "{work / "store"}"\n')
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    return work / "store"


def embedded_export(work: Path, dump: Path) -> Path:
    """Import ``dump`` into a fresh embedded store under ``work`` and export the store; the
    export's directory."""
    export_store(str(embedded_import(work, dump)), str(work / "export"))
    return work / "export"


def assert_same_export(expected: Path, exported: Path) -> None:
    """The two exports hold the same files, byte for byte (``metadata`` has timestamps)."""
    names = sorted(p.name for p in expected.iterdir() if p.name != "metadata")
    assert names and sorted(p.name for p in exported.iterdir() if p.name != "metadata") == names
    for name in names:
        assert (exported / name).read_bytes() == (expected / name).read_bytes(), name
