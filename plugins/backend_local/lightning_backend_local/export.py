"""Export the embedded store as a mydumper dump that ``myloader`` and ``tidb-lightning`` load.

Per database ``<db>-schema-create.sql``; per table ``<db>.<table>-schema.sql`` (the stored CREATE
TABLE) and data files ``<db>.<table>.000000000.sql``, ``...000000001.sql`` holding ``INSERT``
statements of bounded size; a ``metadata`` file. Data files begin as mydumper's do, with
``SET NAMES binary`` (string bytes are in their column's character set, sent unconverted) and
``SET TIME_ZONE='+00:00'`` (TIMESTAMP values are stored in UTC).

Rows are decoded from the record pairs and written with ``lightning_core.format_row``; the
decoder's values that it has no literal for are turned into text first: dates and times
(zero dates included) into MySQL's text form, JSON documents into JSON text, and the empty
ENUM value (index 0) into ``''``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from lightning_backend_local.store import CATALOG_FILE, CatalogTable, EmbeddedStore
from lightning_core import (
    SchemaError,
    TableInfo,
    TableKVDecoder,
    format_row,
    parse_create_table,
    quote_identifier,
    record_prefix,
)

STATEMENT_BYTES = 1_000_000
"""Target size of one INSERT statement (mydumper's ``--statement-size`` default)."""
FILE_BYTES = 256 << 20
"""Size after which a table's next statement starts a new data file."""

_HEADER = (
    b"/*!40101 SET NAMES binary*/;\n"
    b"/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n"
    b"/*!40103 SET TIME_ZONE='+00:00' */;\n"
)
_SCHEMA_HEADER = "/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n\n"

Render = Callable[[Any], Any]
_EXPONENT_ZERO = re.compile(r"e-0(\d)$")


def _date_text(value: Any) -> bytes:
    return str(value.format(date_only=True)).encode("ascii")


def _datetime_text(value: Any) -> bytes:
    return str(value.format(6 if value.microsecond else 0)).encode("ascii")


def _json_float(value: float) -> str:
    """A JSON number as TiDB prints a float64: positional from 1e-6 to 1e21, else exponent
    form with no leading zero in the exponent; an integral value keeps ``.0`` so that it reads
    back as a float, not an integer."""
    text = repr(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        return _EXPONENT_ZERO.sub(r"e-\1", text)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else f"{text}.0"


def _json_dump(value: Any) -> str:
    """JSON text of a decoded document as TiDB prints it: ``", "`` and ``": "`` separators,
    keys in stored (sorted) order, non-ASCII characters as they are."""
    if isinstance(value, dict):
        items = (f"{_json_dump(k)}: {_json_dump(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json_dump(v) for v in value) + "]"
    if isinstance(value, float):
        return _json_float(value)
    return json.dumps(value, ensure_ascii=False)


def _json_text(value: Any) -> bytes:
    return _json_dump(value.value).encode("utf-8")


def _enum_value(value: Any) -> Any:
    return value if value else b""


def _renderers(table: TableInfo) -> list[Render | None]:
    """Per written column: how a decoded value becomes one ``format_row`` renders (None: as it
    is)."""
    by_type: dict[str, Render] = {
        "DATE": _date_text,
        "DATETIME": _datetime_text,
        "TIMESTAMP": _datetime_text,
        "JSON": _json_text,
        "ENUM": _enum_value,
    }
    return [by_type.get(c.ft.tp.name) for c in table.columns if not c.is_generated]


def table_rows(store: EmbeddedStore, table: CatalogTable, model: TableInfo) -> Iterable[bytes]:
    """The row tuples ``(...)`` of ``table``'s records, in handle order."""
    decoder = TableKVDecoder(model)
    names = [c.name for c in model.columns if not c.is_generated]
    renderers = _renderers(model)
    for key, value in store.scan(record_prefix(table.table_id)):
        _, row = decoder.decode_record(key, value)
        values = []
        for name, render in zip(names, renderers, strict=True):
            item = row[name]
            values.append(item if item is None or render is None else render(item))
        yield format_row(values)


def _insert_head(model: TableInfo) -> bytes:
    head = f"INSERT INTO {quote_identifier(model.name)}"
    if any(c.is_generated for c in model.columns):
        names = ",".join(quote_identifier(c.name) for c in model.columns if not c.is_generated)
        head += f" ({names})"
    return head.encode("utf-8") + b" VALUES\n"


def _write_data(
    out_dir: str,
    stem: str,
    rows: Iterable[bytes],
    head: bytes,
    *,
    statement_bytes: int,
    file_bytes: int,
) -> list[str]:
    """Data files ``<stem>.<n>.sql`` holding ``rows``; none when there are no rows."""
    written: list[str] = []
    file = None
    file_size = 0
    statement_size = 0
    try:
        for row in rows:
            if file is not None and statement_size and statement_size + len(row) > statement_bytes:
                file.write(b";\n")
                file_size += statement_size + 2
                statement_size = 0
                if file_size >= file_bytes:
                    file.close()
                    file = None
            if file is None:
                path = os.path.join(out_dir, f"{stem}.{len(written):09d}.sql")
                file = open(path, "wb")  # noqa: SIM115 - closed when full or at the end
                written.append(path)
                file.write(_HEADER)
                file_size = len(_HEADER)
            if statement_size:
                file.write(b",\n")
                statement_size += 2
            else:
                file.write(head)
                statement_size = len(head)
            file.write(row)
            statement_size += len(row)
        if file is not None:
            file.write(b";\n")
    finally:
        if file is not None:
            file.close()
    return written


def _chosen_tables(store: EmbeddedStore, names: Sequence[str] | None) -> list[CatalogTable]:
    tables = store.tables()
    if names is None:
        return tables
    by_name = {f"{t.schema}.{t.name}".lower(): t for t in tables}
    chosen = []
    for name in names:
        found = by_name.get(name.lower())
        if found is None:
            known = ", ".join(sorted(f"{t.schema}.{t.name}" for t in tables)) or "none"
            raise SchemaError(
                f"table {name!r} is not in the store {store.path} (tables: {known}); name "
                "tables as db.table"
            )
        chosen.append(found)
    return chosen


def export_store(
    store_dir: str,
    out_dir: str,
    tables: Sequence[str] | None = None,
    *,
    statement_bytes: int = STATEMENT_BYTES,
    file_bytes: int = FILE_BYTES,
) -> list[str]:
    """Write every table of the store at ``store_dir`` (or the ``db.table`` s named in
    ``tables``) as a mydumper dump into ``out_dir``; the files written, sorted.

    :param statement_bytes: an INSERT statement ends before it grows past this (each holds at
        least one row).
    :param file_bytes: a data file ends after the statement that takes it past this.
    :raises SchemaError: ``store_dir`` is no store, a named table is not in the store, or a
        stored CREATE TABLE cannot be read.
    """
    if not os.path.isfile(os.path.join(store_dir, CATALOG_FILE)):
        raise SchemaError(
            f"{store_dir} is not an embedded store (no {CATALOG_FILE}); give the directory of "
            "[plugin.local] store-dir"
        )
    started = datetime.datetime.now()
    os.makedirs(out_dir, exist_ok=True)
    store = EmbeddedStore.open(store_dir)
    written: list[str] = []
    try:
        chosen = _chosen_tables(store, tables)
        databases = store.databases()
        wanted = {t.schema.lower() for t in chosen}
        if tables is None:
            wanted |= {name.lower() for name in databases}
        statements = {name.lower(): (name, text) for name, text in databases.items()}
        for table in chosen:
            statements.setdefault(
                table.schema.lower(),
                (table.schema, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(table.schema)}"),
            )
        for key in sorted(wanted):
            name, text = statements[key]
            path = os.path.join(out_dir, f"{name}-schema-create.sql")
            with open(path, "w", encoding="utf-8") as file:
                file.write(f"{text};\n")
            written.append(path)
        for table in chosen:
            stem = f"{table.schema}.{table.name}"
            model = parse_create_table(
                table.statement, table_id=table.table_id, schema=table.schema
            )
            path = os.path.join(out_dir, f"{stem}-schema.sql")
            with open(path, "w", encoding="utf-8", errors="surrogateescape") as file:
                file.write(f"{_SCHEMA_HEADER}{table.statement};\n")
            written.append(path)
            written += _write_data(
                out_dir,
                stem,
                table_rows(store, table, model),
                _insert_head(model),
                statement_bytes=statement_bytes,
                file_bytes=file_bytes,
            )
    finally:
        store.close()
    finished = datetime.datetime.now()
    path = os.path.join(out_dir, "metadata")
    with open(path, "w", encoding="utf-8") as file:
        file.write(f"Started dump at: {started:%Y-%m-%d %H:%M:%S}\n")
        file.write(f"Finished dump at: {finished:%Y-%m-%d %H:%M:%S}\n")
    written.append(path)
    return sorted(written)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lightning_backend_local.export --store-dir DIR --out OUT [db.table ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m lightning_backend_local.export",
        description="Write the embedded store's tables as a mydumper dump.",
    )
    parser.add_argument("--store-dir", required=True, help="the store directory")
    parser.add_argument("--out", required=True, help="the dump directory to write")
    parser.add_argument("tables", nargs="*", help="db.table names (default: every table)")
    arguments = parser.parse_args(argv)
    try:
        files = export_store(arguments.store_dir, arguments.out, arguments.tables or None)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(files)} files written to {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
