"""Built-in checkpoint stores: ``file`` (the default) and ``mysql``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core._markers import hookimpl
from lightning_core.registry import CheckpointStoreRecord


def _file_store(*, config: Any, task: str) -> Any:
    from lightning_core.checkpoints.file_store import FileCheckpointStore

    return FileCheckpointStore(config.checkpoint.dsn)


def _mysql_store(*, config: Any, task: str) -> Any:
    from lightning_core.checkpoints.mysql_store import MySQLCheckpointStore, address_from_dsn
    from lightning_core.target import address_from_config

    dsn = config.checkpoint.dsn
    address = address_from_dsn(dsn) if dsn else address_from_config(config)
    return MySQLCheckpointStore(address, config.checkpoint.schema, task)


@hookimpl
def lightning_register_checkpoint_stores() -> Iterable[CheckpointStoreRecord]:
    """The two stores TiDB Lightning offers under ``[checkpoint] driver``."""
    return [
        CheckpointStoreRecord(
            name="file",
            factory=_file_store,
            description="JSON-lines file at [checkpoint] dsn",
        ),
        CheckpointStoreRecord(
            name="mysql",
            factory=_mysql_store,
            description="table <schema>.checkpoint_log on the [checkpoint] dsn or [tidb] server",
        ),
    ]
