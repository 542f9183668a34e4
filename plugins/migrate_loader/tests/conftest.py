"""Helpers shared by the tests of lightning-migrate-loader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from lightning_migrate_loader import MigrationResult, migrate_text
from migrate_loader_support import Migrate

from lightning_core.config import LightningConfig, load_config_file


@pytest.fixture
def migrate_and_load(tmp_path: Path) -> Migrate:
    """Translate Loader TOML text (and flags), write the result, load it with the strict loader.

    Every generated file goes through :func:`lightning_core.config.load_config_file`, so an
    output key Lightning does not know fails the test that produced it.
    """
    counter = iter(range(1_000_000))

    def run(text: str, flags: Sequence[str] = ()) -> tuple[MigrationResult, LightningConfig]:
        result = migrate_text(text, "loader.toml", flags)
        path = tmp_path / f"tidb-lightning-{next(counter)}.toml"
        path.write_text(result.text, encoding="utf-8")
        return result, load_config_file(str(path))

    return run
