"""Hook implementations of the TiDB backend distribution."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lightning_core import (
    BackendRecord,
    ConflictStrategy,
    Encoder,
    EncoderRecord,
    TargetTable,
    hookimpl,
    sql_mode_has,
)

if TYPE_CHECKING:
    from lightning_backend_tidb.backend import TiDBBackend, TiDBWorker
    from lightning_backend_tidb.encoder import SqlStatementEncoder
    from lightning_backend_tidb.indexes import TiDBTarget
    from lightning_core import LightningConfig


def _backend(*, config: LightningConfig, task: str) -> TiDBBackend:
    from lightning_backend_tidb.backend import TiDBBackend

    return TiDBBackend(config=config, task=task)


def _worker(
    *,
    config: LightningConfig,
    task: str,
    strategy: ConflictStrategy,
    encoder: Callable[..., Encoder[object]] | None,
) -> TiDBWorker:
    from lightning_backend_tidb.backend import TiDBWorker

    return TiDBWorker(config=config, task=task, strategy=strategy, encoder=encoder)


def _target(*, config: LightningConfig) -> TiDBTarget:
    from lightning_backend_tidb.indexes import TiDBTarget

    return TiDBTarget(config)


def _encoder(
    *, table: TargetTable, strategy: ConflictStrategy, config: LightningConfig
) -> SqlStatementEncoder:
    from lightning_backend_tidb.encoder import DEFAULT_STATEMENT_BYTES, SqlStatementEncoder

    batch = int(config.tikv_importer.logical_import_batch_size or DEFAULT_STATEMENT_BYTES)
    return SqlStatementEncoder(
        table,
        strategy,
        no_backslash_escapes=sql_mode_has(config.tidb.sql_mode or "", "NO_BACKSLASH_ESCAPES"),
        max_bytes=min(batch, int(config.tidb.max_allowed_packet)),
    )


@hookimpl
def lightning_register_backends() -> Iterable[BackendRecord]:
    """The ``tidb`` backend."""
    return [
        BackendRecord(
            name="tidb",
            factory=_backend,
            worker_factory=_worker,
            target_factory=_target,
            encoder="sql",
            uses_engines=False,
            requires_empty_target=False,
            description="SQL statements on any MySQL-protocol server; ACID, populated tables OK",
        )
    ]


@hookimpl
def lightning_register_encoders() -> Iterable[EncoderRecord]:
    """The ``sql`` encoder (rows → INSERT/REPLACE/INSERT IGNORE statements)."""
    return [
        EncoderRecord(
            name="sql",
            factory=_encoder,
            description="rows to INSERT / REPLACE / INSERT IGNORE statements bounded by bytes",
        )
    ]
