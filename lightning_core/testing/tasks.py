"""Run ``tidb-lightning`` from tests: configuration files and subprocess calls."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from lightning_core.testing.pytest_plugin import (
    MARIADB_HOST,
    MARIADB_PASSWORD,
    MARIADB_PORT,
    MARIADB_USER,
)


def task_config(
    data_source_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
    checkpoint_schema: str = "tidb_lightning_checkpoint",
    on_duplicate: str = "replace",
    backend: str = "tidb",
    region_concurrency: int = 2,
    table_concurrency: int = 6,
    extra: str = "",
) -> str:
    """A tidb-lightning.toml importing ``data_source_dir`` into the test server."""
    checkpoint_section = (
        f'[checkpoint]\nenable = true\ndriver = "file"\ndsn = "{checkpoint}"\n'
        f'schema = "{checkpoint_schema}"\n'
        if checkpoint is not None
        else "[checkpoint]\nenable = false\n"
    )
    return (
        f'[lightning]\nlevel = "info"\nfile = "-"\nregion-concurrency = {region_concurrency}\n'
        f"table-concurrency = {table_concurrency}\n"
        f"{checkpoint_section}"
        f'[tikv-importer]\nbackend = "{backend}"\non-duplicate = "{on_duplicate}"\n'
        f'[mydumper]\ndata-source-dir = "{data_source_dir}"\n'
        f'[tidb]\nhost = "{MARIADB_HOST}"\nport = {MARIADB_PORT}\nuser = "{MARIADB_USER}"\n'
        f'password = "{MARIADB_PASSWORD}"\n'
        'sql-mode = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"\n'
        f"{extra}"
    )


def lightning_command(python: str | Path | None = None) -> list[str]:
    """The command that runs tidb-lightning with ``python`` (default: this interpreter)."""
    return [
        str(python or sys.executable),
        "-c",
        "import sys; from lightning_core.cli import main; sys.exit(main())",
    ]


def run_lightning(
    args: Sequence[str],
    *,
    python: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run tidb-lightning to completion and return its exit code and output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [*lightning_command(python), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
