"""Create the target's databases, tables and views from the dump's schema files (with routes).

As Lightning: a schema-create file gives only its character set and collation (the database
itself is always our own ``CREATE DATABASE IF NOT EXISTS`` of the routed name); only databases
that receive tables, or that a schema-only route or an unrouted schema-create file names, are
created; tables come next; views last, after a placeholder table for every view, so that views
over views in any database and in any file order can be created.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from lightning_core.errors import SchemaError
from lightning_core.interfaces import FileKind, SourceFile, Target, TargetTable
from lightning_core.pipeline.plan import ImportPlan
from lightning_core.pipeline.schema_files import schema_statements
from lightning_core.source.discovery import TablePlan
from lightning_core.sqltext import quote_identifier
from lightning_core.target import is_transient

log = logging.getLogger(__name__)

_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_CREATE_DATABASE = re.compile(r"^\s*CREATE\s+(?:DATABASE|SCHEMA)\b", re.I)
_CHARSET = re.compile(r"\b(?:CHARACTER\s+SET|CHARSET)\s*=?\s*(['\"`]?)(\w+)\1", re.I)
_COLLATE = re.compile(r"\bCOLLATE\s*=?\s*(['\"`]?)(\w+)\1", re.I)
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}(?:\s*\.\s*{_NAME})?", re.I | re.S
)
_CREATE_VIEW = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:ALGORITHM\s*=\s*\w+\s+)?", re.I)
_DEFINER = re.compile(
    r"\bDEFINER\s*=\s*(?:`[^`]*`|'[^']*'|[^\s@]+)@(?:`[^`]*`|'[^']*'|\S+)\s*", re.I
)
_VIEW_NAME = re.compile(rf"\bVIEW\s+{_NAME}(?:\s*\.\s*{_NAME})?", re.I)
_VIEW_FILE_SUFFIX = re.compile(r"-schema-view(\.sql(?:\.\w+)?)$", re.I)

# Errors of a CREATE VIEW whose tables or views do not exist yet: retried after the others.
_MISSING_DEPENDENCY = frozenset({1146, 1356})


@attrs.frozen(kw_only=True)
class _SchemaOptions:
    """How schema files are read."""

    sql_mode: str
    character_set: str = "auto"
    """``[mydumper] character-set``."""


def _execute(conn: Any, sql: str, where: str) -> None:
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(sql.encode("utf-8", "surrogateescape"))
    except pymysql.err.MySQLError as exc:
        if is_transient(exc):
            raise  # the server, not the statement: the caller retries the whole creation
        raise SchemaError(
            f"{where}: the target refused the statement ({exc}); fix the schema file or create "
            "the object on the target yourself and run with [mydumper] no-schema = true"
        ) from exc


def create_schemas(
    conn: Any,
    plan: ImportPlan,
    *,
    sql_mode: str,
    no_schema: bool,
    character_set: str = "auto",
    table_statement: Callable[[str, str, str], str] | None = None,
) -> None:
    """Create missing databases, tables and views; existing ones are left as they are.

    :param table_statement: ``(schema, name, statement)`` → the ``CREATE TABLE`` to run for a
        table this import creates (a backend may change it, e.g. to add indexes later).
    """
    if no_schema:
        return
    options = _SchemaOptions(sql_mode=sql_mode, character_set=character_set)
    _create_databases(conn, plan, options)
    objects = _TargetObjects(conn)
    for table in plan.source.tables:
        if table.is_view or table.schema_file is None:
            continue
        if objects.kind(table.target_schema, table.target_table) is not None:
            log.info("table %s.%s exists; kept", table.target_schema, table.target_table)
            continue
        _create_table(
            conn,
            table.schema_file,
            table.target_schema,
            table.target_table,
            options,
            table_statement,
        )
        objects.add(table.target_schema, table.target_table, "BASE TABLE")
    views = [t for t in plan.source.tables if t.is_view and t.schema_file is not None]
    _create_views(conn, plan, views, objects, options)


# --- databases ---------------------------------------------------------------------------------


def databases_to_create(plan: ImportPlan) -> list[tuple[str, SourceFile | None]]:
    """Target databases the import creates, each with the schema-create file it borrows.

    A database receives tables, or a schema-create file is routed to it by a schema-only route,
    or it is an unrouted source database with no tables at all. A source database whose tables
    are all routed elsewhere is not created.
    """
    receiving = {t.target_schema.lower() for t in plan.source.tables}
    with_tables = {source.lower() for t in plan.source.tables for source, _ in t.sources}
    chosen = []
    for target, file in plan.source.schemas:
        # an unrouted schema-create file with tables of its own: its tables may all have left
        routed_away = file is None or (
            file.schema.lower() == target.lower() and file.schema.lower() in with_tables
        )
        if target.lower() in receiving or not routed_away:
            chosen.append((target, file))
        else:
            log.info("database %s is not created: all its tables are routed elsewhere", target)
    return chosen


class _TargetCharsets:
    """The character sets and collations the target knows (read once)."""

    def __init__(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLLATIONS"
            )
            self.collations = {str(c).lower(): str(s).lower() for c, s in cur.fetchall()}
            cur.execute("SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS")
            self.charsets = {str(row[0]).lower() for row in cur.fetchall()}

    def clause(self, statement: str, where: str) -> str:
        """`` CHARACTER SET x COLLATE y`` of ``statement``, keeping only what the target knows."""
        charset_match = _CHARSET.search(statement)
        collate_match = _COLLATE.search(statement)
        charset = charset_match.group(2).lower() if charset_match else None
        collation = collate_match.group(2).lower() if collate_match else None
        if charset is not None and charset not in self.charsets:
            log.warning("%s: character set %s is unknown to the target; left out", where, charset)
            charset = None
        if collation is not None and (
            collation not in self.collations
            or (charset is not None and self.collations[collation] != charset)
        ):
            log.warning("%s: collation %s is unknown to the target; left out", where, collation)
            collation = None
        clause = f" CHARACTER SET {charset}" if charset else ""
        return clause + (f" COLLATE {collation}" if collation else "")


def _create_databases(conn: Any, plan: ImportPlan, options: _SchemaOptions) -> None:
    charsets: _TargetCharsets | None = None
    for target, file in databases_to_create(plan):
        create = f"CREATE DATABASE IF NOT EXISTS {quote_identifier(target)}"
        where = file.path if file is not None else f"database {target}"
        statement = _create_database_statement(file, options) if file is not None else None
        if statement is not None:
            charsets = charsets or _TargetCharsets(conn)
            create += charsets.clause(statement, where)
        _execute(conn, create, where)


def _create_database_statement(file: SourceFile, options: _SchemaOptions) -> str | None:
    for statement in schema_statements(file, options.character_set, options.sql_mode):
        if _CREATE_DATABASE.match(statement):
            return statement
    log.warning("%s: no CREATE DATABASE statement; the database is created as is", file.path)
    return None


# --- tables ------------------------------------------------------------------------------------


class _TargetObjects:
    """Tables and views of the target, by lower-cased (schema, name): their TABLE_TYPE."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.known: dict[str, dict[str, str]] = {}

    def _of(self, schema: str) -> dict[str, str]:
        key = schema.lower()
        if key not in self.known:
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s",
                    (schema,),
                )
                self.known[key] = {str(n).lower(): str(t) for n, t in cur.fetchall()}
        return self.known[key]

    def kind(self, schema: str, name: str) -> str | None:
        """``BASE TABLE``, ``VIEW`` or None when absent."""
        return self._of(schema).get(name.lower())

    def add(self, schema: str, name: str, kind: str) -> None:
        self._of(schema)[name.lower()] = kind

    def forget(self, schema: str, name: str) -> None:
        self._of(schema).pop(name.lower(), None)


def _create_table(
    conn: Any,
    file: SourceFile,
    schema: str,
    name: str,
    options: _SchemaOptions,
    table_statement: Callable[[str, str, str], str] | None,
) -> None:
    target = f"CREATE TABLE IF NOT EXISTS {quote_identifier(schema)}.{quote_identifier(name)}"
    for statement in schema_statements(file, options.character_set, options.sql_mode):
        if _CREATE_TABLE.match(statement):
            # a function, not a template: names are data, whatever backslashes they hold
            create = _CREATE_TABLE.sub(lambda _m: target, statement, count=1)
            if table_statement is not None:
                create = table_statement(schema, name, create)
            _execute(conn, create, file.path)
            return
    raise SchemaError(f"{file.path}: no CREATE TABLE statement found; fix the schema file")


# --- views -------------------------------------------------------------------------------------


def _placeholder_file(plan: ImportPlan, view: TablePlan) -> SourceFile | None:
    """The CREATE TABLE stand-in that dumpling and mydumper write next to a view's file."""
    assert view.schema_file is not None
    path = _VIEW_FILE_SUFFIX.sub(lambda m: "-schema" + m.group(1), view.schema_file.path)
    rel = os.path.relpath(path, plan.source.data_source_dir).replace(os.sep, "/")
    if path == view.schema_file.path or rel not in plan.source.ignored:
        return None
    return attrs.evolve(view.schema_file, path=path, kind=FileKind.TABLE_SCHEMA)


def _is_empty(conn: Any, schema: str, name: str) -> bool:
    with conn.cursor() as cur:
        cur.execute(f"SELECT 1 FROM {quote_identifier(schema)}.{quote_identifier(name)} LIMIT 1")
        return cur.fetchone() is None


def _create_views(
    conn: Any,
    plan: ImportPlan,
    views: list[TablePlan],
    objects: _TargetObjects,
    options: _SchemaOptions,
) -> None:
    pending: list[TablePlan] = []
    for view in views:
        kind = objects.kind(view.target_schema, view.target_table)
        if kind == "VIEW":
            log.info("view %s.%s exists; kept", view.target_schema, view.target_table)
            continue
        if kind is not None and not _is_empty(conn, view.target_schema, view.target_table):
            assert view.schema_file is not None
            raise SchemaError(
                f"`{view.target_schema}`.`{view.target_table}` is a view in the dump (see "
                f"{view.schema_file.path}) but a table with rows on "
                "the target; drop or rename that table, or exclude the view with [mydumper] filter"
            )
        pending.append(view)
    # Every stand-in first: a view over another view then finds a table of that name.
    for view in pending:
        placeholder = _placeholder_file(plan, view)
        if placeholder is not None and objects.kind(view.target_schema, view.target_table) is None:
            _create_table(conn, placeholder, view.target_schema, view.target_table, options, None)
            objects.add(view.target_schema, view.target_table, "BASE TABLE")
    _create_views_in_passes(conn, pending, objects, options)


def _create_views_in_passes(
    conn: Any, pending: list[TablePlan], objects: _TargetObjects, options: _SchemaOptions
) -> None:
    """Create views, retrying those whose dependencies are missing while any pass succeeds
    (views without a stand-in file may come before the views they use)."""
    import pymysql

    while pending:
        deferred: list[tuple[TablePlan, pymysql.err.MySQLError]] = []
        for view in pending:
            try:
                _create_view(conn, view, objects, options)
            except pymysql.err.MySQLError as exc:
                if exc.args[0] not in _MISSING_DEPENDENCY:
                    raise _view_error(view, exc) from exc
                deferred.append((view, exc))
        if len(deferred) == len(pending):
            first, error = deferred[0]
            raise _view_error(first, error) from error
        pending = [view for view, _ in deferred]


def _view_error(view: TablePlan, exc: Exception) -> SchemaError:
    assert view.schema_file is not None
    return SchemaError(
        f"{view.schema_file.path}: the target refused the view ({exc}); fix the schema file, "
        "import the tables it uses too, or exclude the view with [mydumper] filter"
    )


def _view_statement(view: TablePlan, options: _SchemaOptions) -> str:
    assert view.schema_file is not None
    target = f"VIEW {quote_identifier(view.target_schema)}.{quote_identifier(view.target_table)}"
    for statement in _view_candidates(view.schema_file, options):
        statement = _DEFINER.sub("", statement)
        return _VIEW_NAME.sub(lambda _m: target, statement, count=1)
    raise SchemaError(f"{view.schema_file.path}: no CREATE VIEW statement found; fix the file")


def _view_candidates(file: SourceFile, options: _SchemaOptions) -> Iterable[str]:
    for statement in schema_statements(file, options.character_set, options.sql_mode):
        if re.search(r"\bVIEW\b", statement, re.I) and _CREATE_VIEW.match(statement):
            yield statement


def _create_view(
    conn: Any, view: TablePlan, objects: _TargetObjects, options: _SchemaOptions
) -> None:
    statement = _view_statement(view, options)
    schema, name = view.target_schema, view.target_table
    with conn.cursor() as cur:
        cur.execute(f"USE {quote_identifier(schema)}")
        if objects.kind(schema, name) == "BASE TABLE":  # our stand-in, or an interrupted run's
            cur.execute(f"DROP TABLE IF EXISTS {quote_identifier(schema)}.{quote_identifier(name)}")
            objects.forget(schema, name)
        cur.execute(statement.encode("utf-8", "surrogateescape"))
    objects.add(schema, name, "VIEW")


# --- what the import writes to -------------------------------------------------------------


def planned_targets(
    target: Target, plan: ImportPlan, *, no_schema: bool, model: bool
) -> tuple[ImportPlan, dict[str, TargetTable]]:
    """The plan without what there is nothing to do for, and the target's definition of every
    table left in it.

    With ``no-schema``, a table that has no data files and does not exist on the target is
    left out (Lightning imports nothing for it); any other missing table is an error.

    :param model: also read each table's model (for backends that need it).
    """
    found: dict[str, TargetTable] = {}
    kept = []
    for task in plan.tables:
        table = target.table(task.plan.target_schema, task.plan.target_table, model=model)
        if table is None and no_schema and not task.plan.data_files:
            log.info("table %s has no data files and is not on the target; skipped", task.name)
            continue
        if table is None and no_schema:
            raise SchemaError(
                f"table {task.name} does not exist on the target, and [mydumper] no-schema = "
                "true creates nothing; create it on the target or set no-schema = false"
            )
        if table is None:
            raise SchemaError(
                f"table {task.name} does not exist on the target and the data source has no "
                "schema file for it; create it on the target or add its -schema.sql file"
            )
        found[task.name] = table
        kept.append(task)
    return attrs.evolve(plan, tables=tuple(kept)), found
