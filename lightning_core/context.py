"""Small frozen objects passed to lifecycle hooks; never the whole engine."""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class ImportContext:
    """The task as plugins see it."""

    task_id: str
    backend: str
    data_source_dir: str
    tables: tuple[str, ...]
    """Target names of the planned tables, as ```db`.`table```."""


@attrs.frozen(kw_only=True)
class TableSummary:
    """The outcome of one table."""

    table: str
    rows: int
    bytes: int
    seconds: float
    warnings: int = 0
    """Warnings the target gave for the table's rows (values it changed to fit)."""
    skipped: int = 0
    """Rows the target refused that ``[lightning] max-error`` let the import skip."""
