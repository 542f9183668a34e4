"""Post-import checks: row counts for every table; ADMIN CHECKSUM / ANALYZE on TiDB targets."""

from __future__ import annotations

import logging
from typing import Any

from lightning_core.errors import LightningError
from lightning_core.pipeline.targets import TargetTable
from lightning_core.target import address_from_config, connect, is_tidb

log = logging.getLogger(__name__)


class VerificationError(LightningError):
    """The target does not hold what the import wrote."""


def _level(value: Any) -> str:
    """``[post-restore]`` levels: ``required``, ``optional`` or ``off`` (booleans accepted)."""
    if value is True:
        return "required"
    if value is False or value is None:
        return "off"
    return str(value).lower()


def expected_growth_problem(
    on_duplicate: str, rows_read: int, growth: int, rows_before: int
) -> str | None:
    """Why ``growth`` new rows after writing ``rows_read`` source rows is wrong, if it is.

    ``error`` writes every row exactly once; ``ignore`` and ``replace`` may fold rows that share
    a key, so they can only add fewer rows, never more.
    """
    if growth > rows_read:
        return f"the table grew by {growth} rows but only {rows_read} source rows were written"
    if rows_read > 0 and growth <= 0 and rows_before == 0:
        return f"{rows_read} source rows were written but the empty table did not grow"
    if on_duplicate == "error" and growth != rows_read:
        return f"{rows_read} source rows were written but the table grew by {growth} rows"
    return None


def verify_table(
    config: Any, backend: Any, table: TargetTable, rows_read: int, rows_before: int
) -> None:
    """Compare source rows with the rows the target gained; checksum and analyze on TiDB."""
    checksum = _level(config.post_restore.checksum)
    analyze = _level(config.post_restore.analyze)
    if checksum != "off":
        rows_after = backend.count_rows(table)
        problem = expected_growth_problem(
            config.tikv_importer.on_duplicate, rows_read, rows_after - rows_before, rows_before
        )
        if problem is not None:
            message = (
                f"row count check of {table.quoted} failed: {problem} (rows before: "
                f"{rows_before}, after: {rows_after}); another writer may have changed the "
                'table during the import; set [post-restore] checksum = "off" to skip this check'
            )
            if checksum == "required":
                raise VerificationError(message)
            log.warning("%s", message)
        else:
            log.info("%s: %d source rows, %d rows now", table.quoted, rows_read, rows_after)
    if checksum == "off" and analyze == "off":
        return
    conn = connect(address_from_config(config))
    try:
        if not is_tidb(conn):
            return
        with conn.cursor() as cur:
            if checksum != "off":
                cur.execute(f"ADMIN CHECKSUM TABLE {table.quoted}")
                log.info("%s: ADMIN CHECKSUM %s", table.quoted, cur.fetchall())
            if analyze != "off":
                cur.execute(f"ANALYZE TABLE {table.quoted}")
    finally:
        conn.close()
