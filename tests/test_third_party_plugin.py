"""A third-party plugin, built as its own distribution, pip-installed into a venv, selected by name.

The plugin here is the one docs/plugins.md walks through: a conflict strategy ``upsert`` that
writes ``INSERT ... ON DUPLICATE KEY UPDATE``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

from lightning_core.testing.tasks import run_lightning, task_config

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "lightning-upsert"
version = "0.3.0"
dependencies = ["tidb-lightning"]

[project.entry-points."lightning.plugins"]
upsert = "lightning_upsert"
"""

MODULE = '''
"""An ``on-duplicate = "upsert"`` strategy for tidb-lightning's TiDB backend."""

from lightning_core import ConflictStrategyRecord, hookimpl


class Upsert:
    name = "upsert"

    def insert_verb(self):
        return "INSERT INTO"

    def statement_tail(self, columns):
        updates = ", ".join(f"{c} = VALUES({c})" for c in columns)
        return f"ON DUPLICATE KEY UPDATE {updates}"

    def on_duplicate_error(self, table, key, where):
        return None  # the server never reports one: duplicates become updates


@hookimpl
def lightning_register_conflict_strategies():
    return [ConflictStrategyRecord(name="upsert", factory=Upsert, description="upsert rows")]
'''

CONTRACT_TEST = """
import pytest

from lightning_core.testing.contracts import ConflictStrategyContract
from lightning_upsert import Upsert


class TestUpsert(ConflictStrategyContract):
    @pytest.fixture
    def strategy(self):
        return Upsert()
"""


def _make_venv(root: Path) -> Path:
    """A venv that sees this environment's packages (through a .pth file) plus its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    # addsitedir, not a bare path: the parent's own .pth files (editable installs) must run too
    Path(site, "parent-env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def test_plugin_installs_with_pip_and_is_selected_by_name(
    tmp_path: Path, fresh_database: str, target_connection: Any
) -> None:
    source = tmp_path / "lightning-upsert"
    (source / "tests").mkdir(parents=True)
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (source / "lightning_upsert.py").write_text(MODULE)
    (source / "tests" / "test_contract.py").write_text(textwrap.dedent(CONTRACT_TEST))
    python = _make_venv(tmp_path / "venv")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-build-isolation", str(source)],
        check=True,
    )  # fmt: skip

    contract = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert contract.returncode == 0, contract.stdout + contract.stderr

    listed = run_lightning(["plugins", "--json"], python=python)
    assert listed.returncode == 0, listed.stderr
    dists = {d["distribution"]: d for d in json.loads(listed.stdout)["distributions"]}
    assert dists["lightning-upsert"]["version"] == "0.3.0"
    assert dists["lightning-upsert"]["components"][0]["name"] == "upsert"

    with target_connection.cursor() as cur:
        cur.execute(f"CREATE TABLE `{fresh_database}`.t (id INT PRIMARY KEY, v INT, w INT)")
        cur.execute(f"INSERT INTO `{fresh_database}`.t VALUES (1, 10, 100), (2, 20, 200)")
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src.t.000.sql").write_text("INSERT INTO t (id, v) VALUES (2, 21), (3, 31);\n")
    config = tmp_path / "task.toml"
    route = f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{fresh_database}"\n'
    config.write_text(task_config(dump, on_duplicate="upsert", extra=route))
    result = run_lightning(["--config", str(config)], python=python)
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT id, v, w FROM `{fresh_database}`.t ORDER BY id")
        assert cur.fetchall() == ((1, 10, 100), (2, 21, 200), (3, 31, None))

    unknown = run_lightning(["--config", str(config), "--on-duplicate", "upsret"])
    assert unknown.returncode == 1
    assert "unknown conflict strategy 'upsret'" in unknown.stderr
