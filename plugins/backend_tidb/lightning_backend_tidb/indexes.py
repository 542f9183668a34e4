"""Deferred secondary indexes: tables this import creates get them after their rows.

A server inserting rows into a table with secondary indexes updates every index per row; the
same index built in one ``ALTER TABLE ... ADD INDEX`` after the load sorts once (InnoDB's
bulk index build; TiDB's fast reorg). So a table this import creates — empty before it, so
nobody else can miss the index meanwhile — is created without its non-unique secondary
indexes (unique ones stay: ``replace``, ``ignore`` and ``error`` decide by them), and they are
added, all in one statement, as the table's first post-import step.

Before the table is created its pending indexes are recorded on the target, in
``<[checkpoint] schema>.tidb_deferred_indexes`` (checkpoints on or off), so that a run killed
between the load and the index build adds them when it is run again; the record goes once
they exist. A table that existed before the import is never altered.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from lightning_core import (
    SqlTarget,
    TargetTable,
    drop_if_unused,
    failpoint,
    quote_identifier,
)

if TYPE_CHECKING:
    from lightning_core import LightningConfig

log = logging.getLogger(__name__)

PENDING_TABLE = "tidb_deferred_indexes"

#: One item of a CREATE TABLE body: quoted strings, identifiers and nested parentheses are
#: taken whole, so a ',' inside them does not end the item.
_ITEM_PIECE = re.compile(
    r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|\((?:[^()'"`]|'(?:[^'\\]|\\.|'')*'|"""
    r""""(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|\([^()]*\))*\)|[^,()'"`]+""",
    re.S,
)
_PLAIN_INDEX = re.compile(r"\s*(?:KEY|INDEX)\b", re.I)
_INDEX_NAME = re.compile(r"\s*(?:KEY|INDEX)\s+(`(?:[^`]|``)+`|\w+)", re.I)
_FIRST_COLUMN = re.compile(r"\(\s*(`(?:[^`]|``)+`|\w+)")
_AUTO_INCREMENT_COLUMN = re.compile(r"\s*(`(?:[^`]|``)+`|\w+)\s.*\bAUTO_INCREMENT\b", re.I | re.S)
_FOREIGN_KEY = re.compile(r"\bREFERENCES\b", re.I)


def _unquote(name: str) -> str:
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def split_secondary_indexes(statement: str) -> tuple[str, list[str]]:
    """``statement`` (a CREATE TABLE) without its deferrable indexes, and those indexes'
    definitions (``KEY `k` (`c`)``), in order.

    Deferrable: plain ``KEY`` / ``INDEX``, not on an AUTO_INCREMENT column (InnoDB wants one
    for it); nothing when the table has foreign keys (they need their indexes while rows come).
    """
    open_at = statement.find("(")
    if open_at < 0 or _FOREIGN_KEY.search(statement):
        return statement, []
    items: list[str] = []
    pos = open_at + 1
    current = ""
    while pos < len(statement):
        if statement[pos] == ",":
            items.append(current)
            current = ""
            pos += 1
            continue
        if statement[pos] == ")":
            break
        m = _ITEM_PIECE.match(statement, pos)
        if m is None:  # an unbalanced body: leave the statement as the dump has it
            return statement, []
        current += m.group()
        pos = m.end()
    else:
        return statement, []
    items.append(current)
    auto = {
        _unquote(m.group(1)).lower()
        for item in items
        if (m := _AUTO_INCREMENT_COLUMN.match(item)) is not None
    }
    kept, deferred = [], []
    for item in items:
        first = _FIRST_COLUMN.search(item)
        if (
            _PLAIN_INDEX.match(item)
            and first is not None
            and _unquote(first.group(1)).lower() not in auto
        ):
            deferred.append(item.strip())
        else:
            kept.append(item)
    if not deferred:
        return statement, []
    return statement[: open_at + 1] + ",".join(kept) + statement[pos:], deferred


def index_name(definition: str) -> str | None:
    """The name of ``KEY `name` (...)``, or None for an unnamed one."""
    m = _INDEX_NAME.match(definition)
    if m is None or m.group(1).startswith("("):
        return None
    return _unquote(m.group(1))


class TiDBTarget(SqlTarget):
    """The SQL target with deferred secondary indexes (``[tidb] defer-secondary-indexes``)."""

    def __init__(self, config: LightningConfig) -> None:
        super().__init__(config)
        self._defer = config.tidb.defer_secondary_indexes == "auto"
        # recorded whether checkpoints are on or not: a table left without its indexes by a
        # killed run would otherwise keep it ("exists; kept") when the import is run again
        self._record_schema = config.checkpoint.schema
        self._pending: dict[tuple[str, str], list[str]] = {}

    @property
    def _record_table(self) -> str:
        return f"{quote_identifier(self._record_schema)}.{PENDING_TABLE}"

    def created_table_statement(self, schema: str, name: str, statement: str) -> str:
        """The table without its deferrable indexes, which are recorded as pending first."""
        if not self._defer:
            return statement
        stripped, deferred = split_secondary_indexes(statement)
        if not deferred:
            return statement
        self._query(
            f"create {self._record_table}",
            f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self._record_schema)}",
        )
        self._query(
            f"create {self._record_table}",
            f"CREATE TABLE IF NOT EXISTS {self._record_table} (schema_name VARCHAR(64) NOT "
            "NULL, table_name VARCHAR(64) NOT NULL, definitions TEXT NOT NULL, "
            "PRIMARY KEY (schema_name, table_name))",
        )
        self._query(
            f"record the deferred indexes of {schema}.{name}",
            f"REPLACE INTO {self._record_table} VALUES (%s, %s, %s)",
            (schema, name, "\n".join(deferred)),
        )
        self._pending[(schema, name)] = deferred
        log.info(
            "%s.%s: created without %d secondary indexes; they are added after its rows",
            quote_identifier(schema),
            quote_identifier(name),
            len(deferred),
        )
        return stripped

    def rebase(self, table: TargetTable, max_row_id: int) -> None:
        """Add the table's deferred indexes (the first post-import step), then rebase."""
        self.add_deferred_indexes(table)
        super().rebase(table, max_row_id)

    def add_deferred_indexes(self, table: TargetTable) -> None:
        """``ALTER TABLE ... ADD`` the pending indexes of ``table`` that it does not have yet
        (a kill may have come after the ALTER), then forget them."""
        key = (table.schema, table.name)
        deferred = self._pending.pop(key, None)
        if deferred is None:
            deferred = self._recorded(table)
        if not deferred:
            return
        have = {
            _text(row[2])
            for row in self._query(
                f"read the indexes of {table.quoted}", f"SHOW INDEX FROM {table.quoted}"
            )
        }
        missing = [d for d in deferred if index_name(d) not in have]
        failpoint("tidb:indexes-pending")
        if missing:
            started = time.monotonic()
            self._query(
                f"add the deferred indexes of {table.quoted}",
                f"ALTER TABLE {table.quoted} " + ", ".join(f"ADD {d}" for d in missing),
            )
            log.info(
                "%s: %d deferred indexes added in %.2fs",
                table.quoted,
                len(missing),
                time.monotonic() - started,
            )
        failpoint("tidb:indexes-added")
        self._query(
            f"forget the deferred indexes of {table.quoted}",
            f"DELETE FROM {self._record_table} WHERE schema_name = %s AND table_name = %s",
            key,
        )
        self._run(
            f"drop {self._record_table}",
            lambda conn: drop_if_unused(conn, self._record_schema, PENDING_TABLE),
        )

    def _recorded(self, table: TargetTable) -> list[str]:
        """The pending indexes an earlier run recorded for ``table`` (none when the record
        table is gone: another table's post-import may drop it at any moment)."""
        import pymysql

        def read(conn: Any) -> list[Any]:
            with conn.cursor() as cur:
                try:
                    cur.execute(
                        f"SELECT definitions FROM {self._record_table} WHERE schema_name = %s "
                        "AND table_name = %s",
                        (table.schema, table.name),
                    )
                except pymysql.err.ProgrammingError as exc:
                    if exc.args and exc.args[0] == _NO_SUCH_TABLE:
                        return []
                    raise
                return list(cur.fetchall())

        rows = self._run(f"read the deferred indexes of {table.quoted}", read)
        return _text(rows[0][0]).split("\n") if rows else []


#: MySQL's ER_NO_SUCH_TABLE.
_NO_SUCH_TABLE = 1146


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
