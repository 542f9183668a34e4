"""Create the target's databases, tables and views from the dump's schema files (with routes)."""

from __future__ import annotations

import logging
import re
from typing import Any

from lightning_core.errors import SchemaError
from lightning_core.interfaces import SourceFile
from lightning_core.pipeline.plan import ImportPlan
from lightning_core.pipeline.targets import TargetTable, read_target_table
from lightning_core.source.compression import open_decompressed
from lightning_core.source.discovery import TablePlan
from lightning_core.source.sql_reader import statement_ends
from lightning_core.sqltext import quote_identifier

log = logging.getLogger(__name__)

_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_CREATE_DATABASE = re.compile(
    rf"^\s*CREATE\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", re.I | re.S
)
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}(?:\s*\.\s*{_NAME})?", re.I | re.S
)
_CREATE_VIEW = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?", re.I)
_DEFINER = re.compile(
    r"\bDEFINER\s*=\s*(?:`[^`]*`|'[^']*'|[^\s@]+)@(?:`[^`]*`|'[^']*'|\S+)\s*", re.I
)
_VIEW_NAME = re.compile(rf"\bVIEW\s+{_NAME}(?:\s*\.\s*{_NAME})?", re.I)
_COMMENTS = re.compile(rb"^\s*(?:/\*(?!!).*?\*/\s*|--[^\n]*\n\s*|#[^\n]*\n\s*)*", re.S)


def statements_of(file: SourceFile, sql_mode: str) -> list[str]:
    """The statements of a schema file, without leading comments."""
    with open_decompressed(file.path, file.compression) as stream:
        data = stream.read()
    statements = []
    start = 0
    for end in statement_ends(file.path, file.compression, sql_mode):
        text = _COMMENTS.sub(b"", data[start:end]).strip().rstrip(b";").strip()
        start = end
        if text:
            statements.append(text.decode("utf-8", "surrogateescape"))
    tail = _COMMENTS.sub(b"", data[start:]).strip()
    if tail:
        statements.append(tail.decode("utf-8", "surrogateescape"))
    return statements


def _existing_tables(conn: Any, schema: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (schema,)
        )
        return {row[0].lower() for row in cur.fetchall()}


def _execute(conn: Any, sql: str, where: str) -> None:
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(sql.encode("utf-8", "surrogateescape"))
    except pymysql.err.MySQLError as exc:
        raise SchemaError(
            f"{where}: the target refused the statement ({exc}); fix the schema file or create "
            "the object on the target yourself and run with [mydumper] no-schema = true"
        ) from exc


def create_schemas(conn: Any, plan: ImportPlan, *, sql_mode: str, no_schema: bool) -> None:
    """Create missing databases, tables and views; existing ones are left as they are."""
    if no_schema:
        return
    for target, file in plan.source.schemas:
        create = f"CREATE DATABASE IF NOT EXISTS {quote_identifier(target)}"
        if file is not None:
            for statement in statements_of(file, sql_mode):
                if _CREATE_DATABASE.match(statement):
                    create = _CREATE_DATABASE.sub(create, statement, count=1)
        _execute(conn, create, file.path if file else f"database {target}")
    views = {
        (t.target_schema.lower(), t.target_table.lower()) for t in plan.source.tables if t.is_view
    }
    existing: dict[str, set[str]] = {}
    for table in plan.source.tables:
        if table.is_view or table.schema_file is None:
            continue
        if (table.target_schema.lower(), table.target_table.lower()) in views:
            continue  # mydumper's stand-in table for a view
        known = existing.setdefault(
            table.target_schema, _existing_tables(conn, table.target_schema)
        )
        if table.target_table.lower() in known:
            log.info("table %s.%s exists; kept", table.target_schema, table.target_table)
            continue
        _create_table(conn, table, sql_mode)
        known.add(table.target_table.lower())
    for table in plan.source.tables:
        if table.is_view and table.schema_file is not None:
            _create_view(conn, table, sql_mode, existing)


def _create_table(conn: Any, table: TablePlan, sql_mode: str) -> None:
    assert table.schema_file is not None
    target = f"CREATE TABLE IF NOT EXISTS {quote_identifier(table.target_schema)}." + (
        quote_identifier(table.target_table)
    )
    for statement in statements_of(table.schema_file, sql_mode):
        if _CREATE_TABLE.match(statement):
            _execute(
                conn,
                _CREATE_TABLE.sub(lambda _m: target, statement, count=1),
                table.schema_file.path,
            )
            return
    raise SchemaError(
        f"{table.schema_file.path}: no CREATE TABLE statement found; fix the schema file"
    )


def _create_view(conn: Any, view: TablePlan, sql_mode: str, existing: dict[str, set[str]]) -> None:
    assert view.schema_file is not None
    known = existing.setdefault(view.target_schema, _existing_tables(conn, view.target_schema))
    target = f"VIEW {quote_identifier(view.target_schema)}.{quote_identifier(view.target_table)}"
    for statement in statements_of(view.schema_file, sql_mode):
        if not re.search(r"\bVIEW\b", statement, re.I) or not _CREATE_VIEW.match(statement):
            continue
        if view.target_table.lower() in known:
            log.info("view %s.%s exists; kept", view.target_schema, view.target_table)
            return
        statement = _DEFINER.sub("", statement)
        statement = _VIEW_NAME.sub(lambda _m: target, statement, count=1)
        with conn.cursor() as cur:
            cur.execute(f"USE {quote_identifier(view.target_schema)}")
        _execute(conn, statement, view.schema_file.path)
        return


def target_tables(conn: Any, plan: ImportPlan) -> dict[str, TargetTable]:
    """The target's definition of every planned table; a missing one is an error."""
    found: dict[str, TargetTable] = {}
    for task in plan.tables:
        table = read_target_table(conn, task.plan.target_schema, task.plan.target_table)
        if table is None:
            raise SchemaError(
                f"table {task.name} does not exist on the target and the data source has no "
                "schema file for it; create it on the target or add its -schema.sql file"
            )
        found[task.name] = table
    return found
