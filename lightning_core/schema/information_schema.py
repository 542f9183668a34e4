"""Read a table's model from the target server.

We ask the server for ``SHOW CREATE TABLE`` and parse it with :func:`.ddl.parse_create_table`:
that statement is exactly what the server built (charsets, defaults, key order, TiDB's
clustered and AUTO_RANDOM comments), which ``information_schema.COLUMNS``/``STATISTICS`` would
only give in pieces and, for the TiDB-specific parts, not at all.
"""

from __future__ import annotations

from typing import Any

from lightning_core.errors import SchemaError
from lightning_core.schema.ddl import parse_create_table
from lightning_core.schema.model import TableInfo


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def show_create_table(conn: Any, schema: str, table: str) -> str:
    """The server's ``SHOW CREATE TABLE`` text; SchemaError if the table does not exist."""
    import pymysql

    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW CREATE TABLE {_quote(schema)}.{_quote(table)}")
            row = cur.fetchone()
    except pymysql.err.MySQLError as exc:
        raise SchemaError(
            f"cannot read the definition of `{schema}`.`{table}` from the target: {exc}; "
            "create the table first or check the user's privileges"
        ) from exc
    if row is None:
        raise SchemaError(f"the target returned no definition for `{schema}`.`{table}`")
    text = row[1] if isinstance(row, tuple | list) else next(iter(row.values()))
    return text.decode("utf-8") if isinstance(text, bytes) else str(text)


def table_from_information_schema(
    conn: Any, schema: str, table: str, *, table_id: int, time_zone: str = "UTC"
) -> TableInfo:
    """The model of ``schema.table`` as it exists on the target (a pymysql connection)."""
    return parse_create_table(
        show_create_table(conn, schema, table),
        table_id=table_id,
        schema=schema,
        time_zone=time_zone,
    )
