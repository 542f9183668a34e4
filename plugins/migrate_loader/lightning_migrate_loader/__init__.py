"""tidb-lightning-migrate-loader: move a TiDB Loader setup to TiDB Lightning's TiDB backend.

``lightning-migrate-loader loader.toml -o tidb-lightning.toml -- <Loader flags>`` writes the
configuration; :func:`migrate_text` does the same from Python.
"""

from __future__ import annotations

from lightning_migrate_loader.convert import (
    MigrationNote,
    MigrationResult,
    migrate,
    migrate_text,
)
from lightning_migrate_loader.errors import MigrationError
from lightning_migrate_loader.loader_config import LoaderEntry, LoaderInput, read_loader_input

__all__ = [
    "LoaderEntry",
    "LoaderInput",
    "MigrationError",
    "MigrationNote",
    "MigrationResult",
    "migrate",
    "migrate_text",
    "read_loader_input",
]
