"""After a table's engines are imported, in TiDB Lightning's order: rebase the auto IDs past
the largest one imported, compare checksums (or, where there are none, row counts), analyze.

Each step is recorded when it is done, so a resumed run continues at the next one; every step
may run again without harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from lightning_core.checkpoints.state import step_reached
from lightning_core.config_sections import PostOpLevel
from lightning_core.errors import LightningError
from lightning_core.interfaces import Target, TargetTable

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig
    from lightning_core.kv.checksum import KVChecksum

log = logging.getLogger(__name__)


class VerificationError(LightningError):
    """The target does not hold what the import wrote."""


@attrs.frozen(kw_only=True)
class TableOutcome:
    """What the import of one table wrote, folded from its chunks' durable progress."""

    name: str
    """```db`.`table```."""
    table: TargetTable
    status: str
    """The table's step before post-import (``imported`` or later)."""
    rows_read: int
    rows_before: int
    local: KVChecksum | None
    """Checksum of the KV pairs written; None for a backend that writes none."""
    max_row_id: int


def post_import(
    outcome: TableOutcome,
    target: Target,
    config: LightningConfig,
    record: Callable[[str], None],
) -> None:
    """Run the post-import steps the table has not done; ``record(step)`` after each."""
    if not step_reached(outcome.status, "rebased"):
        target.rebase(outcome.table, outcome.max_row_id)
        record("rebased")
    if not step_reached(outcome.status, "checksummed"):
        _check(outcome, target, config)
        record("checksummed")
    if not step_reached(outcome.status, "analyzed"):
        level = config.post_restore.analyze
        if level != PostOpLevel.OFF:
            try:
                target.analyze(outcome.table)
            except Exception as exc:
                if level == PostOpLevel.REQUIRED:
                    raise VerificationError(f"ANALYZE of {outcome.name} failed: {exc}") from exc
                log.warning("ANALYZE of %s failed (analyze = optional): %s", outcome.name, exc)
        record("analyzed")


def _check(outcome: TableOutcome, target: Target, config: LightningConfig) -> None:
    level = config.post_restore.checksum
    if level == PostOpLevel.OFF:
        return
    remote = target.checksum(outcome.table) if outcome.local is not None else None
    local = outcome.local
    if local is not None and remote is not None:
        if remote == local:
            log.info("%s: checksum pass (%s)", outcome.name, _figures(local))
            return
        mismatch = (
            f"checksum mismatched remote vs local for {outcome.name} => (checksum: "
            f"{remote.checksum} vs {local.checksum}) (total_kvs: {remote.total_kvs} vs "
            f"{local.total_kvs}) (total_bytes: {remote.total_bytes} vs {local.total_bytes}); "
            "the target does not hold exactly what was imported"
        )
        _fail(mismatch, level)
        return
    why = (
        "the target has no KV checksum"
        if local is not None
        else "this backend writes no KV pairs to compare"
    )
    rows_after = target.count_rows(outcome.table)
    problem = expected_growth_problem(
        str(config.tikv_importer.on_duplicate),
        outcome.rows_read,
        rows_after - outcome.rows_before,
        outcome.rows_before,
    )
    if problem is None:
        log.info(
            "%s: %d source rows, %d rows now (a row count only: %s)",
            outcome.name,
            outcome.rows_read,
            rows_after,
            why,
        )
        return
    _fail(
        f"row count check of {outcome.name} failed: {problem} (rows before: "
        f"{outcome.rows_before}, after: {rows_after}; a row count only: {why}); another writer "
        "may have changed the table during the import",
        level,
    )


def _fail(problem: str, level: PostOpLevel) -> None:
    if level == PostOpLevel.REQUIRED:
        raise VerificationError(
            f'{problem}; set [post-restore] checksum = "optional" or "off" to go on anyway'
        )
    log.warning("%s (checksum = optional: going on)", problem)


def _figures(checksum: KVChecksum) -> str:
    return f"checksum {checksum.checksum}, {checksum.total_kvs} kvs, {checksum.total_bytes} bytes"


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
