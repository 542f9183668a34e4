"""End to end: a Loader setup for the example dump, migrated, then imported by tidb-lightning.

The Loader file uses ``source-db``/``alternative-db`` (Loader's ``-s``/``-B``) to load ``shop``
into a fresh database, and route rules to merge the ``shop_archive_*`` shards into it, so the
run never touches a ``shop`` database another test may be using. Everything it creates (the
target database and the checkpoint schema) is dropped afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lightning_migrate_loader.cli import EXIT_OK, main

from lightning_core.config import load_config_file
from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PASSWORD,
    MARIADB_PORT,
    MARIADB_USER,
)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"


def _expected_rows() -> dict[str, int]:
    spec = importlib.util.spec_from_file_location(
        "make_example_dump", EXAMPLES / "make_example_dump.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.EXPECTED_ROWS)


@pytest.fixture
def scratch_names(database_pair: tuple[str, str]) -> tuple[str, str]:
    """A target database and a checkpoint schema, both dropped after the test."""
    return database_pair


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.mark.slow
def test_migrated_loader_config_imports_the_example_dump(
    tmp_path: Path, scratch_names: tuple[str, str], target_connection: Any
) -> None:
    database, checkpoint_schema = scratch_names
    loader_toml = tmp_path / "loader.toml"
    loader_toml.write_text(
        f"""# Loader settings for the repository's example dump.
log-level = "info"
log-file = {_toml_string(str(tmp_path / "import.log"))}
dir = {_toml_string(str(EXAMPLES / "dump") + "/")}
checkpoint-schema = "{checkpoint_schema}"
pool-size = 2
# Load shop under another name (Loader's -s / -B).
source-db = "shop"
alternative-db = "{database}"

[db]
host = {_toml_string(MARIADB_HOST)}
port = {MARIADB_PORT}
user = {_toml_string(MARIADB_USER)}
password = {_toml_string(MARIADB_PASSWORD)}

# The archive shards merge into shop.orders_archive.
[[route-rules]]
pattern-schema = "shop_archive_*"
target-schema = "shop"

[[route-rules]]
pattern-schema = "shop_archive_*"
pattern-table = "orders_*"
target-schema = "shop"
target-table = "orders_archive"
""",
        encoding="utf-8",
    )
    generated = tmp_path / "tidb-lightning.toml"
    assert main([str(loader_toml), "-o", str(generated)]) == EXIT_OK
    config = load_config_file(str(generated))
    assert config.tikv_importer.backend == "tidb"
    assert [(r.schema_pattern, r.table_pattern, r.target_schema) for r in config.routes] == [
        ("shop", "", database),
        ("shop_archive_*", "", database),
        ("shop_archive_*", "orders_*", database),
    ]

    assert config.checkpoint.driver == "mysql"
    lightning = Path(sys.executable).with_name("tidb-lightning")
    done = subprocess.run(
        [str(lightning), "--config", str(generated), "-d", str(EXAMPLES / "dump")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, f"tidb-lightning failed:\n{done.stdout}\n{done.stderr}"

    expected = {name.split(".", 1)[1]: rows for name, rows in _expected_rows().items()}
    counts: dict[str, int] = {}
    with target_connection.cursor() as cur:
        for table in expected:
            cur.execute(f"SELECT COUNT(*) FROM `{database}`.`{table}`")
            counts[table] = cur.fetchone()[0]
        # "remove" leaves only the task's tombstone, so that a re-run knows it is done
        cur.execute(f"SELECT record FROM `{checkpoint_schema}`.checkpoint_log ORDER BY id")
        kinds = [json.loads(row[0])["type"] for row in cur.fetchall()]
        assert kinds == ["task", "completed"]
    assert counts == expected
