"""Hook implementations of the TiDB backend distribution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core import BackendRecord, EncoderRecord, hookimpl


def _backend(*, config: Any, task: str) -> Any:
    from lightning_backend_tidb.backend import TiDBBackend

    return TiDBBackend(config=config, task=task)


def _encoder(**kwargs: Any) -> Any:
    from lightning_backend_tidb.encoder import SqlStatementEncoder

    return SqlStatementEncoder(**kwargs)


@hookimpl
def lightning_register_backends() -> Iterable[BackendRecord]:
    """The ``tidb`` backend."""
    return [
        BackendRecord(
            name="tidb",
            factory=_backend,
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
