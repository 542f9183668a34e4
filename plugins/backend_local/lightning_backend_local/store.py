"""The embedded store: a directory holding a RocksDB database of TiDB KV pairs and a catalog.

Layout of the directory::

    kv/            the RocksDB database; raw TiDB keys (``t{id}_r...``, ``t{id}_i...``)
    catalog.json   databases (CREATE DATABASE text) and tables (schema, name, table ID,
                   CREATE TABLE text, auto-ID base); rewritten whole, atomically

RocksDB admits one opener per directory, and both the backend (to ingest) and the target (to
count and check) use the store in the main process, so :meth:`EmbeddedStore.open` hands out one
shared, reference-counted instance per path. :class:`EmbeddedTarget` is the ``Target`` the
local backend's record names: it holds the tables of an import that has no TiDB cluster.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

import attrs

from lightning_backend_local.options import LocalOptions
from lightning_backend_local.sst import fsync_directory, sst_options
from lightning_core import (
    ImportPlan,
    KVChecksum,
    LightningConfig,
    SchemaError,
    TableInfo,
    TargetError,
    TargetTable,
    parse_create_table,
    quote_identifier,
    record_prefix,
    schema_statements,
    table_prefix,
)

if TYPE_CHECKING:
    from rocksdict import Rdict

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.json"
KV_DIRECTORY = "kv"
FIRST_TABLE_ID = 100
"""The first table ID the catalog assigns (TiDB's own system tables use the small ones)."""
_CATALOG_VERSION = 1

_NAME = r"(?:`(?:[^`]|``)+`|[\w$]+)"
_CREATE_TABLE = re.compile(
    rf"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}(?:\s*\.\s*{_NAME})?", re.I | re.S
)
_CREATE_DATABASE = re.compile(r"^\s*CREATE\s+(?:DATABASE|SCHEMA)\b", re.I)
_CHARSET = re.compile(r"\b(?:CHARACTER\s+SET|CHARSET)\s*=?\s*(['\"`]?)(\w+)\1", re.I)
_COLLATE = re.compile(r"\bCOLLATE\s*=?\s*(['\"`]?)(\w+)\1", re.I)


@attrs.frozen(kw_only=True)
class CatalogTable:
    """A table of the store's catalog."""

    schema: str
    name: str
    table_id: int
    """The ID in every key of the table (``t{table_id}_...``)."""
    statement: str
    """The CREATE TABLE statement, naming the table by ``name`` (unqualified)."""
    auto_id_base: int = 0
    """The largest row ID / auto-increment value used so far."""


def _key(schema: str, name: str = "") -> str:
    # Names compare as TiDB compares them (lower_case_table_names = 2): without case.
    return f"{schema.lower()}\x00{name.lower()}"


def _after_prefix(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no such key)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class StoreCatalog:
    """The catalog of one store directory, on its own: what an import into a TiKV cluster
    without SQL (the protocol double, whose process holds the RocksDB database) records."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._catalog = self._read_catalog()

    def close(self) -> None:
        """Nothing to release: the catalog is written through on every change."""

    # --- catalog ------------------------------------------------------------------------------

    @property
    def catalog_path(self) -> str:
        """The catalog file."""
        return os.path.join(self.path, CATALOG_FILE)

    def _read_catalog(self) -> dict[str, Any]:
        try:
            with open(self.catalog_path, encoding="utf-8") as file:
                catalog: dict[str, Any] = json.load(file)
        except FileNotFoundError:
            return {
                "version": _CATALOG_VERSION,
                "next_table_id": FIRST_TABLE_ID,
                "databases": {},
                "tables": {},
            }
        except ValueError as exc:
            raise SchemaError(
                f"{self.catalog_path}: the store's catalog is not valid JSON ({exc}); restore "
                "it or remove the store directory to start over"
            ) from exc
        if catalog.get("version") != _CATALOG_VERSION:
            raise SchemaError(
                f"{self.catalog_path}: catalog version {catalog.get('version')!r}, this "
                f"tidb-lightning reads version {_CATALOG_VERSION}; use the tidb-lightning that "
                "wrote the store"
            )
        return catalog

    def _write_catalog(self, catalog: dict[str, Any]) -> None:
        """Make ``catalog`` the catalog: on disk first (temporary file, fsync, rename), then in
        memory, so a failed write changes neither."""
        temporary = f"{self.catalog_path}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(catalog, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.catalog_path)
        fsync_directory(self.path)
        self._catalog = catalog

    def create_database(self, name: str, statement: str) -> None:
        """Record database ``name`` with its CREATE DATABASE text; an existing one is kept."""
        with self._lock:
            if _key(name) in self._catalog["databases"]:
                return
            catalog = copy.deepcopy(self._catalog)
            catalog["databases"][_key(name)] = {"name": name, "statement": statement}
            self._write_catalog(catalog)

    def databases(self) -> dict[str, str]:
        """Database name → its CREATE DATABASE text."""
        with self._lock:
            return {d["name"]: d["statement"] for d in self._catalog["databases"].values()}

    def create_table(self, schema: str, name: str, statement: str) -> int:
        """The table ID of ``schema.name``: a new one recorded with ``statement`` the first time,
        the recorded one afterwards (the statement is then left as it was)."""
        with self._lock:
            found = self._catalog["tables"].get(_key(schema, name))
            if found is not None:
                return int(found["table_id"])
            catalog = copy.deepcopy(self._catalog)
            table_id = int(catalog["next_table_id"])
            catalog["tables"][_key(schema, name)] = {
                "schema": schema,
                "name": name,
                "table_id": table_id,
                "statement": statement,
                "auto_id_base": 0,
            }
            catalog["next_table_id"] = table_id + 1
            self._write_catalog(catalog)
            return table_id

    def table(self, schema: str, name: str) -> CatalogTable | None:
        """The catalog's table ``schema.name``, or None."""
        with self._lock:
            found = self._catalog["tables"].get(_key(schema, name))
            return CatalogTable(**found) if found is not None else None

    def tables(self) -> list[CatalogTable]:
        """Every table, by schema then name."""
        with self._lock:
            tables = [CatalogTable(**t) for t in self._catalog["tables"].values()]
        return sorted(tables, key=lambda t: (t.schema.lower(), t.name.lower()))

    def rebase(self, schema: str, name: str, base: int) -> None:
        """Raise the table's auto-ID base to ``base`` (a smaller one leaves it as it is)."""
        with self._lock:
            found = self._catalog["tables"].get(_key(schema, name))
            if found is None:
                raise SchemaError(
                    f"table {quote_identifier(schema)}.{quote_identifier(name)} is not in the "
                    f"store {self.path}; create its schema first"
                )
            if base <= int(found["auto_id_base"]):
                return
            catalog = copy.deepcopy(self._catalog)
            catalog["tables"][_key(schema, name)]["auto_id_base"] = base
            self._write_catalog(catalog)


class EmbeddedStore(StoreCatalog):
    """The RocksDB database and catalog of one store directory; see :meth:`open`."""

    _instances: ClassVar[dict[str, EmbeddedStore]] = {}
    _instances_lock = threading.Lock()

    def __init__(self, path: str, db: Rdict) -> None:
        super().__init__(path)
        self._db = db
        self._references = 0

    @classmethod
    def open(cls, path: str) -> EmbeddedStore:
        """The store at ``path`` (created when missing), shared by every opener in this process;
        each ``open`` needs one :meth:`close`."""
        from rocksdict import Rdict

        absolute = os.path.abspath(path)
        with cls._instances_lock:
            store = cls._instances.get(absolute)
            if store is None:
                os.makedirs(absolute, exist_ok=True)
                options = sst_options()
                options.create_if_missing(True)
                try:
                    db = Rdict(os.path.join(absolute, KV_DIRECTORY), options)
                except Exception as exc:  # rocksdict raises plain exceptions
                    raise TargetError(
                        f"cannot open the embedded store {absolute}: {exc}; if another "
                        "tidb-lightning uses it, wait for it to finish or choose another "
                        "[plugin.local] store-dir"
                    ) from exc
                try:
                    store = cls(absolute, db)
                except BaseException:
                    db.close()
                    raise
                cls._instances[absolute] = store
            store._references += 1
            return store

    def close(self) -> None:
        """Release one reference; the last one closes the database (closing a closed store
        does nothing)."""
        with self._instances_lock:
            if self._references <= 0:
                return
            self._references -= 1
            if self._references > 0:
                return
            self._instances.pop(self.path, None)
            self._db.close()

    # --- KV pairs -----------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str]) -> None:
        """Move the sorted SST files ``paths`` into the database (they may overlap each other
        and what is there; later files win); durable when this returns."""
        from rocksdict import IngestExternalFileOptions

        if not paths:
            return
        options = IngestExternalFileOptions()
        options.set_move_files(True)
        with self._lock:
            before = self._live_files()
            # One file per call: each file gets a newer sequence number than the one before,
            # so later files win on equal keys by construction, not by RocksDB's rules for
            # overlapping files within one call.
            for path in paths:
                self._db.ingest_external_file([path], options)
            # RocksDB syncs the MANIFEST that names the files; the moved files and the
            # directory entries are made durable here.
            self._sync_files(self._live_files() - before)

    def write(self, puts: Sequence[tuple[bytes, bytes]], deletes: Sequence[bytes]) -> None:
        """Write ``puts`` and delete ``deletes`` (absent keys are no matter; a key in both ends
        deleted) in one batch; durable when this returns."""
        from rocksdict import WriteBatch, WriteOptions

        if not puts and not deletes:
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in puts:
            batch.put(key, value)
        for key in deletes:
            batch.delete(key)
        options = WriteOptions()
        options.sync = True
        with self._lock:
            self._db.write(batch, options)

    def _live_files(self) -> set[str]:
        return {str(live["name"]).lstrip("/") for live in self._db.live_files()}

    def _sync_files(self, names: set[str]) -> None:
        directory = os.path.join(self.path, KV_DIRECTORY)
        for name in sorted(names):
            path = os.path.join(directory, name)
            if os.path.exists(path):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        fsync_directory(directory)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """The pairs whose keys start with ``prefix``, in key order."""
        from rocksdict import ReadOptions

        options = ReadOptions()
        upper = _after_prefix(prefix)
        if upper is not None:
            options.set_iterate_upper_bound(upper)
        # items() walks in C and stops at the bound; this generator keeps the options (which
        # hold the bound) alive as long as the walk
        yield from cast(
            Iterator[tuple[bytes, bytes]], self._db.items(from_key=prefix, read_opt=options)
        )

    def count(self, prefix: bytes) -> int:
        """How many keys start with ``prefix``."""
        return sum(1 for _ in self.scan(prefix))


# --- the target --------------------------------------------------------------------------------


def retarget_create_table(statement: str, name: str) -> str:
    """``statement`` creating the unqualified table ``name`` (routes rename tables)."""
    head = f"CREATE TABLE {quote_identifier(name)}"
    # a function, not a template: names are data, whatever backslashes they hold
    return _CREATE_TABLE.sub(lambda _m: head, statement, count=1)


def create_database_statement(name: str, statement: str | None) -> str:
    """``CREATE DATABASE`` of ``name`` keeping only the character set and collation of the
    dump's ``statement`` (as Lightning does, the name is the routed one)."""
    create = f"CREATE DATABASE IF NOT EXISTS {quote_identifier(name)}"
    if statement is None:
        return create
    charset = _CHARSET.search(statement)
    collate = _COLLATE.search(statement)
    if charset is not None:
        create += f" CHARACTER SET {charset.group(2)}"
    if collate is not None:
        create += f" COLLATE {collate.group(2)}"
    return create


class CatalogTarget:
    """The schema side of a ``Target`` kept in a store's catalog: databases, tables, IDs,
    auto-ID bases; subclasses count, checksum and drop the rows where they are."""

    def __init__(self, *, config: LightningConfig, catalog: StoreCatalog) -> None:
        self._config = config
        self._store = catalog
        self.location = catalog.path
        self._models: dict[tuple[int, str], TableInfo] = {}

    def create_schemas(self, plan: ImportPlan) -> None:
        """Record the plan's databases and tables that the catalog does not hold yet."""
        mydumper = self._config.mydumper
        if mydumper.no_schema:
            return
        sql_mode = self._config.tidb.sql_mode or ""
        files = {target.lower(): file for target, file in plan.source.schemas}
        for schema in sorted({task.plan.target_schema for task in plan.tables}):
            file = files.get(schema.lower())
            found = None
            if file is not None:
                statements = schema_statements(file, mydumper.character_set, sql_mode)
                found = next((s for s in statements if _CREATE_DATABASE.match(s)), None)
            self._store.create_database(schema, create_database_statement(schema, found))
        for view in plan.source.tables:
            if view.is_view:
                log.info(
                    "view %s.%s skipped: the embedded store holds no views",
                    view.target_schema,
                    view.target_table,
                )
        for task in plan.tables:
            table = task.plan
            if table.schema_file is None:
                continue
            schema, name = table.target_schema, table.target_table
            if self._store.table(schema, name) is not None:
                log.info("table %s.%s exists; kept", schema, name)
                continue
            statements = schema_statements(table.schema_file, mydumper.character_set, sql_mode)
            create = next((s for s in statements if _CREATE_TABLE.match(s)), None)
            if create is None:
                raise SchemaError(
                    f"{table.schema_file.path}: no CREATE TABLE statement found; fix the "
                    "schema file"
                )
            statement = retarget_create_table(create, name)
            try:
                parse_create_table(statement, table_id=0, schema=schema)
            except SchemaError as exc:
                raise SchemaError(f"{table.schema_file.path}: {exc}") from exc
            self._store.create_table(schema, name, statement)

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        """The catalog's table, its writable columns, ID and (with ``model``) model."""
        found = self._store.table(schema, name)
        if found is None:
            return None
        info = self._model(found)
        columns = tuple(c.name for c in info.columns if not c.is_generated)
        return TargetTable(
            schema=found.schema,
            name=found.name,
            columns=columns,
            table_id=found.table_id,
            model=info if model else None,
        )

    def _model(self, table: CatalogTable) -> TableInfo:
        key = (table.table_id, table.statement)
        info = self._models.get(key)
        if info is None:
            info = parse_create_table(table.statement, table_id=table.table_id, schema=table.schema)
            self._models[key] = info
        return info

    def rebase(self, table: TargetTable, max_row_id: int) -> None:
        """Record ``max_row_id`` as the table's auto-ID base (the largest is kept)."""
        self._store.rebase(table.schema, table.name, max_row_id)

    def analyze(self, table: TargetTable) -> None:
        """Nothing: the store keeps no statistics."""

    def close(self) -> None:
        """Release the store."""
        self._store.close()


class EmbeddedTarget(CatalogTarget):
    """The ``Target`` of the embedded store: schemas in its catalog, rows in its KV pairs."""

    def __init__(self, *, config: LightningConfig, options: LocalOptions) -> None:
        self._kv = EmbeddedStore.open(options.store_dir)
        super().__init__(config=config, catalog=self._kv)

    def count_rows(self, table: TargetTable) -> int:
        """Record keys of the table."""
        return self._kv.count(record_prefix(table.table_id))

    def checksum(self, table: TargetTable) -> KVChecksum:
        """The checksum of every pair of the table: records and indexes."""
        checksum = KVChecksum()
        checksum.update(self._kv.scan(table_prefix(table.table_id)))
        return checksum

    def drop_table(self, table: TargetTable) -> None:
        """Delete every key of the table (records and indexes) and its catalog entry; created
        again, it gets a new table ID, as TiDB gives one."""
        from rocksdict import WriteOptions

        store = self._kv
        prefix = table_prefix(table.table_id)
        end = _after_prefix(prefix)
        assert end is not None  # a table prefix never ends in 0xff bytes only
        durable = WriteOptions()
        durable.sync = True
        with store._lock:
            store._db.delete_range(prefix, end, durable)
            catalog = copy.deepcopy(store._catalog)
            catalog["tables"].pop(_key(table.schema, table.name), None)
            store._write_catalog(catalog)
