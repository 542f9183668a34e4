"""The core's SQL target: TiDB or any MySQL-protocol server at ``[tidb]``."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lightning_core.errors import TargetError
from lightning_core.interfaces import Target, TargetTable
from lightning_core.pipeline.schema import create_schemas
from lightning_core.sqltext import quote_identifier
from lightning_core.target import (
    address_from_config,
    connect,
    server_version,
    statement_limit,
    with_retries,
)

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig
    from lightning_core.kv.checksum import KVChecksum
    from lightning_core.pipeline.plan import ImportPlan
    from lightning_core.registry import BackendRecord

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Table names that InnoDB's dictionary spells as they are (others are encoded there).
_PLAIN_NAME = re.compile(r"^\w+$", re.ASCII)


def _grant_pattern(pattern: str) -> re.Pattern[str]:
    """A schema name pattern of a GRANT (``%`` any run, ``_`` one character, ``\\`` escaping
    the next) as a full-match regex."""
    parts = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts), re.DOTALL | re.IGNORECASE)


def open_target(
    record: BackendRecord, config: LightningConfig, options: Mapping[str, object]
) -> Target:
    """The backend's own target, or (the usual case) the SQL target on ``[tidb]``."""
    if record.target_factory is None:
        return SqlTarget(config)
    from lightning_core.registry import bind_options

    return bind_options(record, record.target_factory, options)(config=config)


#: Attempts of each statement of the main process: a server restart of some seconds is
#: survived (the connection is opened again).
RETRIES = 6


class SqlTarget:
    """Schemas, table models and post-import checks through SQL.

    Safe to use from several threads: each thread gets its own connection. Every statement is
    retried on the server's transient errors, on a new connection when the old one was lost.
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

    def _drop_connection(self, _error: BaseException) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._lock:
                self._connections.remove(conn)
            with contextlib.suppress(Exception):
                conn.close()

    def _run(self, what: str, action: Callable[[Any], T]) -> T:
        """``action(connection)`` with the target's retry rules."""
        return with_retries(
            lambda: action(self._conn()),
            what=what,
            retries=RETRIES,
            on_retry=self._drop_connection,
        )

    def _query(self, what: str, sql: str, arguments: tuple[object, ...] = ()) -> list[Any]:
        def run(conn: Any) -> list[Any]:
            with conn.cursor() as cur:
                cur.execute(sql, arguments or None)
                return list(cur.fetchall())

        return self._run(what, run)

    @property
    def version(self) -> str:
        """The server's ``version()``."""
        if self._version is None:
            self._version = self._run(f"read the version of {self.location}", server_version)
        return self._version

    @property
    def is_tidb(self) -> bool:
        """True when the server is TiDB (it has ADMIN CHECKSUM and table IDs)."""
        return "tidb" in self.version.lower()

    def create_schemas(self, plan: ImportPlan) -> None:
        """Databases, tables and views of the plan's schema files (see ``pipeline.schema``)."""
        mydumper = self._config.mydumper
        self._run(
            f"create the schemas on {self.location}",
            lambda conn: create_schemas(
                conn,
                plan,
                sql_mode=self._config.tidb.sql_mode or "",
                no_schema=mydumper.no_schema,
                character_set=mydumper.character_set,
                table_statement=self.created_table_statement,
            ),
        )

    def created_table_statement(self, schema: str, name: str, statement: str) -> str:
        """The ``CREATE TABLE`` to run for a table this import creates (a subclass may change
        it); ``statement`` as the dump has it, under the routed name."""
        return statement

    def table(self, schema: str, name: str, *, model: bool = False) -> TargetTable | None:
        """The table's writable columns, its ID and (with ``model``) its model."""
        found = self._query(
            f"read the columns of {schema}.{name}",
            "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        if not found:
            return None
        columns = tuple(row[0] for row in found if "GENERATED" not in (row[1] or "").upper())
        table_id = self._table_id(schema, name)
        info = None
        if model:
            from lightning_core.schema.ddl import parse_create_table  # sqlglot: only when asked

            quoted = f"{quote_identifier(schema)}.{quote_identifier(name)}"
            (row,) = self._query(f"read the definition of {quoted}", f"SHOW CREATE TABLE {quoted}")
            info = parse_create_table(row[1], table_id=table_id, schema=schema)
        return TargetTable(schema=schema, name=name, columns=columns, table_id=table_id, model=info)

    def _table_id(self, schema: str, name: str) -> int:
        """TiDB's table ID, or InnoDB's (MariaDB, MySQL): it changes when the table is created
        again (also by TRUNCATE). 0 when the server does not say."""

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
            rows = self._query(f"read the ID of {schema}.{name}", query, arguments)
        except TargetError as exc:  # no privilege, another engine: no ID
            log.debug("no table ID for %s.%s: %s", schema, name, exc)
            return 0
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def count_rows(self, table: TargetTable) -> int:
        """``SELECT COUNT(*)``."""
        rows = self._query(
            f"count the rows of {table.quoted}", f"SELECT COUNT(*) FROM {table.quoted}"
        )
        return int(rows[0][0])

    def checksum(self, table: TargetTable) -> KVChecksum | None:
        """``ADMIN CHECKSUM TABLE`` on TiDB; None on other servers (they have no KV pairs)."""
        if not self.is_tidb:
            return None
        from lightning_core.kv.checksum import KVChecksum

        (row,) = self._query(f"checksum {table.quoted}", f"ADMIN CHECKSUM TABLE {table.quoted}")
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
        self._query(
            f"rebase the auto IDs of {table.quoted}",
            f"ALTER TABLE {table.quoted} {option}={max_row_id + 1}",
        )

    def _has_auto_increment(self, table: TargetTable) -> bool:
        rows = self._query(
            f"read the columns of {table.quoted}",
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "AND TABLE_NAME = %s AND EXTRA LIKE %s",
            (table.schema, table.name, "%auto_increment%"),
        )
        return bool(rows[0][0])

    def analyze(self, table: TargetTable) -> None:
        """``ANALYZE TABLE`` on TiDB (other servers keep their statistics themselves)."""
        if self.is_tidb:
            self._query(f"analyze {table.quoted}", f"ANALYZE TABLE {table.quoted}")

    def privileges(self, schemas: Sequence[str]) -> dict[str, set[str]]:
        """The privileges the configured user holds on each of ``schemas`` (global ones and
        those granted on the schema or on a pattern matching it), from information_schema."""
        (current,) = self._query("read the current user", "SELECT CURRENT_USER()")
        user, _, host = str(current[0]).rpartition("@")
        grantee = f"'{user}'@'{host}'"
        held = {
            str(row[0]).upper()
            for row in self._query(
                "read the user's privileges",
                "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s",
                (grantee,),
            )
        }
        granted = self._query(
            "read the user's schema privileges",
            "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
            "WHERE GRANTEE = %s",
            (grantee,),
        )
        found: dict[str, set[str]] = {}
        for schema in schemas:
            found[schema] = set(held) | {
                str(kind).upper()
                for pattern, kind in granted
                if _grant_pattern(str(pattern)).fullmatch(schema)
            }
        return found

    def has_role(self) -> bool:
        """True when the session has an active role (its rights are not all in the user's
        grants)."""
        (row,) = self._query("read the current role", "SELECT CURRENT_ROLE()")
        return row[0] is not None and str(row[0]).upper() != "NONE"

    def statement_limit(self) -> int:
        """The longest statement to send (``lightning_core.target.statement_limit``)."""
        return self._run(
            "read max_allowed_packet", lambda conn: statement_limit(conn, self._address)
        )

    def drop_table(self, table: TargetTable) -> None:
        """``DROP TABLE IF EXISTS``."""
        self._query(f"drop {table.quoted}", f"DROP TABLE IF EXISTS {table.quoted}")

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
