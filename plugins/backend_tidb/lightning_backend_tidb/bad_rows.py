"""Rows the target refuses or changes: ``[lightning] max-error`` and the error tables.

The server tells of a changed value (``abc`` into a DECIMAL column under a non-strict
sql-mode) by a warning, and of a refused one by an error. A batch with either is replayed row
by row in its transaction to find the rows; each one is named by its ``file:offset`` in the
log, counted, and — when ``max-error`` is given — charged to its budget and recorded in
``<task-info-schema-name>.type_error_v2`` (duplicates under ``on-duplicate = "error"``: in
``conflict_records_v2``), the tables and columns TiDB Lightning uses. Records and budget are
written in the batch's transaction, so a resumed run neither loses nor repeats them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lightning_core import EncodeError, quote_identifier

if TYPE_CHECKING:
    from lightning_core import LightningConfig
    from lightning_core.config import MaxErrorConfig

TYPE_ERROR_TABLE = "type_error_v2"
CONFLICT_TABLE = "conflict_records_v2"
#: Rows of one error message named in full; the rest are counted.
NAMED_ROWS = 5


@attrs.frozen(kw_only=True)
class BadRow:
    """One row of a batch the target refused or changed."""

    index: int
    """Its index in the batch."""
    offset: int
    """Where it starts in the source file."""
    error: str
    """The server's error, or its warnings joined by ``; ``."""
    refused: bool
    """True when the row was not written (an error); False when written changed (warnings)."""
    duplicate: bool = False
    """The error is a duplicate key."""


def task_number(task: str) -> int:
    """The task's id as the error tables' BIGINT ``task_id`` (63 bits of its hex name)."""
    return int(task, 16) & (2**63 - 1)


def error_tables_ddl(schema: str) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` for the two error tables, with Lightning's columns."""
    quoted = quote_identifier(schema)
    common = (
        "id BIGINT PRIMARY KEY AUTO_INCREMENT, task_id BIGINT NOT NULL,"
        " create_time DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
        " table_name VARCHAR(1024) NOT NULL, path VARCHAR(2048) NOT NULL,"
        " `offset` BIGINT NOT NULL, error TEXT NOT NULL,"
    )
    return [
        f"CREATE DATABASE IF NOT EXISTS {quoted}",
        f"CREATE TABLE IF NOT EXISTS {quoted}.{TYPE_ERROR_TABLE} ({common}"
        " row_data TEXT NOT NULL, KEY (task_id))",
        f"CREATE TABLE IF NOT EXISTS {quoted}.{CONFLICT_TABLE} ({common}"
        " row_id BIGINT NOT NULL, row_data TEXT NOT NULL, KEY (task_id))",
    ]


@attrs.frozen(kw_only=True)
class BadRowPolicy:
    """``[lightning] max-error`` as the tidb backend applies it.

    Without the key (``limits`` None) a refused row stops the table and warnings are only
    counted and named, as TiDB Lightning does; with it, refused and changed rows alike are
    type errors, tolerated up to ``type`` (refused ones are skipped, changed ones kept as the
    server stored them), and under ``replace`` / ``ignore`` the rows that replaced or lost to
    another row are conflicts, tolerated up to ``conflict``.
    """

    limits: MaxErrorConfig | None
    schema: str
    """The task-info schema; empty records nothing."""

    @classmethod
    def from_config(cls, config: LightningConfig) -> BadRowPolicy:
        """The policy of ``[lightning] max-error`` and ``task-info-schema-name``."""
        return cls(limits=config.lightning.max_error, schema=config.lightning.task_info_schema_name)

    @property
    def counts_warnings(self) -> bool:
        """Changed values are type errors (``max-error`` was given)."""
        return self.limits is not None

    @property
    def type_limit(self) -> int:
        """Type errors tolerated by the task."""
        return self.limits.type if self.limits is not None else 0

    @property
    def conflict_limit(self) -> int | None:
        """Conflicts tolerated under replace / ignore; None when they are not counted."""
        if self.limits is None or self.limits.conflict >= 2**63 - 1:
            return None
        return self.limits.conflict

    @property
    def records(self) -> bool:
        """Bad rows are written to the error tables."""
        return self.limits is not None and bool(self.schema)

    def record(
        self,
        cur: Any,
        *,
        task: str,
        table: str,
        path: str,
        rows: Sequence[BadRow],
        texts: Sequence[bytes],
        first_row_id: int = 0,
    ) -> None:
        """Insert ``rows`` into the type-error (or, for duplicates, conflict) table.

        :param texts: the SQL value tuple of each row, by ``BadRow.index``.
        :param first_row_id: the chunk's row number of the batch's first row.
        """
        if not self.records or not rows:
            return
        schema = quote_identifier(self.schema)
        number = task_number(task)
        for row in rows:
            data = texts[row.index].decode("utf-8", "replace")
            if row.duplicate:
                cur.execute(
                    f"INSERT INTO {schema}.{CONFLICT_TABLE} (task_id, table_name, path, `offset`,"
                    " error, row_id, row_data) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (number, table, path, row.offset, row.error, first_row_id + row.index, data),
                )
            else:
                cur.execute(
                    f"INSERT INTO {schema}.{TYPE_ERROR_TABLE} (task_id, table_name, path,"
                    " `offset`, error, row_data) VALUES (%s, %s, %s, %s, %s, %s)",
                    (number, table, path, row.offset, row.error, data),
                )


def over_budget(
    *, table: str, path: str, total: int, limit: int, rows: Sequence[BadRow]
) -> EncodeError:
    """The error that stops a table whose bad rows exceed ``max-error``'s type limit."""
    named = "; ".join(f"{path}:{row.offset}: {row.error}" for row in rows[:NAMED_ROWS])
    more = f" (and {len(rows) - NAMED_ROWS} more in this batch)" if len(rows) > NAMED_ROWS else ""
    return EncodeError(
        f"{table}: {total} rows with values the target refused or changed exceed [lightning] "
        f"max-error type = {limit}: {named}{more}; fix the rows (or raise the limit), then "
        "run again to resume"
    )
