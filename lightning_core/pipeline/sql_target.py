"""The core's SQL target: TiDB or any MySQL-protocol server at ``[tidb]``."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lightning_core.interfaces import Target, TargetTable
from lightning_core.kv.checksum import KVChecksum
from lightning_core.pipeline.schema import create_schemas
from lightning_core.schema.ddl import parse_create_table
from lightning_core.sqltext import quote_identifier
from lightning_core.target import address_from_config, connect, server_version

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig
    from lightning_core.pipeline.plan import ImportPlan
    from lightning_core.registry import BackendRecord

log = logging.getLogger(__name__)

#: Table names that InnoDB's dictionary spells as they are (others are encoded there).
_PLAIN_NAME = re.compile(r"^\w+$", re.ASCII)


def open_target(
    record: BackendRecord, config: LightningConfig, options: Mapping[str, object]
) -> Target:
    """The backend's own target, or (the usual case) the SQL target on ``[tidb]``."""
    if record.target_factory is None:
        return SqlTarget(config)
    from lightning_core.registry import bind_options

    return bind_options(record, record.target_factory, options)(config=config)


class SqlTarget:
    """Schemas, table models and post-import checks through SQL.

    Safe to use from several threads: each thread gets its own connection.
    """

    def __init__(self, config: LightningConfig) -> None:
        self._config = config
        self._address = address_from_config(config)
        self.location = self._address.label
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        self._version: str | None = None

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._address)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @property
    def version(self) -> str:
        """The server's ``version()``."""
        if self._version is None:
            self._version = server_version(self._conn())
        return self._version

    @property
    def is_tidb(self) -> bool:
        """True when the server is TiDB (it has ADMIN CHECKSUM and table IDs)."""
        return "tidb" in self.version.lower()

    def create_schemas(self, plan: ImportPlan) -> None:
        """Databases, tables and views of the plan's schema files (see ``pipeline.schema``)."""
        mydumper = self._config.mydumper
        create_schemas(
            self._conn(),
            plan,
            sql_mode=self._config.tidb.sql_mode or "",
            no_schema=mydumper.no_schema,
            character_set=mydumper.character_set,
        )

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        """The table's writable columns, its ID and (with ``model``) its model."""
        with self._conn().cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (schema, name),
            )
            found = cur.fetchall()
        if not found:
            return None
        columns = tuple(row[0] for row in found if "GENERATED" not in (row[1] or "").upper())
        table_id = self._table_id(schema, name)
        info = None
        if model:
            quoted = f"{quote_identifier(schema)}.{quote_identifier(name)}"
            with self._conn().cursor() as cur:
                cur.execute(f"SHOW CREATE TABLE {quoted}")
                statement = cur.fetchone()[1]
            info = parse_create_table(statement, table_id=table_id, schema=schema)
        return TargetTable(schema=schema, name=name, columns=columns, table_id=table_id, model=info)

    def _table_id(self, schema: str, name: str) -> int:
        """TiDB's table ID, or InnoDB's (MariaDB, MySQL): it changes when the table is created
        again (also by TRUNCATE). 0 when the server does not say."""
        import pymysql

        if self.is_tidb:
            query = (
                "SELECT TIDB_TABLE_ID FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
            )
            arguments: tuple[str, ...] = (schema, name)
        elif _PLAIN_NAME.match(schema) and _PLAIN_NAME.match(name):
            dictionary = (
                "INNODB_SYS_TABLES" if "mariadb" in self.version.lower() else "INNODB_TABLES"
            )
            query = f"SELECT TABLE_ID FROM information_schema.{dictionary} WHERE NAME = %s"
            arguments = (f"{schema}/{name}",)
        else:
            return 0
        try:
            with self._conn().cursor() as cur:
                cur.execute(query, arguments)
                row = cur.fetchone()
        except pymysql.err.MySQLError as exc:  # no privilege, another engine: no ID
            log.debug("no table ID for %s.%s: %s", schema, name, exc)
            return 0
        return int(row[0]) if row is not None and row[0] is not None else 0

    def count_rows(self, table: TargetTable) -> int:
        """``SELECT COUNT(*)``."""
        with self._conn().cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table.quoted}")
            return int(cur.fetchone()[0])

    def checksum(self, table: TargetTable) -> KVChecksum | None:
        """``ADMIN CHECKSUM TABLE`` on TiDB; None on other servers (they have no KV pairs)."""
        if not self.is_tidb:
            return None
        with self._conn().cursor() as cur:
            cur.execute(f"ADMIN CHECKSUM TABLE {table.quoted}")
            row = cur.fetchone()
        # Db_name, Table_name, Checksum_crc64_xor, Total_kvs, Total_bytes
        return KVChecksum(int(row[2]), int(row[3]), int(row[4]))

    def rebase(self, table: TargetTable, max_row_id: int) -> None:
        """``ALTER TABLE ... AUTO_RANDOM_BASE`` / ``AUTO_INCREMENT`` past ``max_row_id`` (the
        servers ignore a value below what they already use)."""
        if max_row_id <= 0:
            return
        model = table.model
        auto_random = model is not None and any(c.auto_random_bits for c in model.columns)
        option = "AUTO_RANDOM_BASE" if auto_random else "AUTO_INCREMENT"
        if not auto_random and not self.is_tidb and not self._has_auto_increment(table):
            return  # only TiDB has an implicit row ID to move
        with self._conn().cursor() as cur:
            cur.execute(f"ALTER TABLE {table.quoted} {option}={max_row_id + 1}")

    def _has_auto_increment(self, table: TargetTable) -> bool:
        with self._conn().cursor() as cur:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND EXTRA LIKE %s",
                (table.schema, table.name, "%auto_increment%"),
            )
            return bool(cur.fetchone()[0])

    def analyze(self, table: TargetTable) -> None:
        """``ANALYZE TABLE`` on TiDB (other servers keep their statistics themselves)."""
        if self.is_tidb:
            with self._conn().cursor() as cur:
                cur.execute(f"ANALYZE TABLE {table.quoted}")

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
