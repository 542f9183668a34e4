"""A third-party backend built from docs/plugins.md alone passes ``BackendContract``.

The plugin (``tests/data/third_party_backend``) writes engines to a directory; here it is
imported by path and registered next to the core's plugins, as its entry point would.
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from lightning_core.testing.contracts import (
    BackendContract,
    BackendSetup,
    config_from_toml,
    data_chunk,
    describe_table,
    registry_with,
)
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import task_config

PLUGIN = Path(__file__).parent / "data" / "third_party_backend" / "lightning_directory_backend.py"
ROWS = 40
PER_STATEMENT = 10  # the SQL reader yields one batch per INSERT: four batches


def _plugin() -> ModuleType:
    name = "lightning_directory_backend"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PLUGIN)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class TestDirectoryBackend(BackendContract):
    @pytest.fixture
    def backend_setup(self, tmp_path: Path) -> BackendSetup:
        plugin = _plugin()
        registry = registry_with(("backend", plugin.RECORD))
        dump = tmp_path / "dump"
        dump.mkdir()
        data = dump / "shop.items.000000000.sql"
        rows = [(i, f"item '{i}'".encode(), Decimal(i) / 4, None) for i in range(ROWS)]
        write_sql_dump(
            str(data),
            "items",
            ("id", "name", "price", "note"),
            rows,
            rows_per_statement=PER_STATEMENT,
        )
        root = tmp_path / "target"
        text = task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            backend="directory",
            extra=f'[plugin.directory]\nroot = "{root}"\n',
        )
        config = config_from_toml(text, "tidb-lightning.toml")
        plugin.table_dir(root, "shop", "items").mkdir(parents=True)  # an empty target table
        return BackendSetup(
            config=config,
            table=describe_table(registry, config, "shop", "items"),
            chunk=data_chunk(str(data), "shop", "items"),
            rows=ROWS,
            registry=registry,
        )
