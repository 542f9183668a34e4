"""The TiDB backend: statements per batch, one transaction per batch, progress in the same one.

Each batch of source rows is written in one transaction together with a row of the progress
ledger (``<checkpoint schema>.tidb_backend_progress``). A run killed at any moment therefore
finds, on resume, exactly the batches that were committed: no row is lost or written twice,
whatever ``on-duplicate`` says.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from typing import Any

import attrs

from lightning_backend_tidb.encoder import DEFAULT_STATEMENT_BYTES, SqlStatementEncoder
from lightning_core import (
    CONNECTION_ERRORS,
    Chunk,
    ChunkResult,
    ChunkState,
    ConflictStrategy,
    DuplicateKeyError,
    EncodeError,
    ReadPosition,
    RowBatch,
    TargetAddress,
    TargetError,
    TargetTable,
    address_from_config,
    connect,
    drop_if_unused,
    error_code,
    is_transient,
    quote_identifier,
    sql_mode_has,
    with_retries,
)

log = logging.getLogger(__name__)

LEDGER_TABLE = "tidb_backend_progress"

#: Server errors caused by one row's data: the row is located and named in the error.
ROW_ERRORS: dict[int, str] = {
    1048: "NULL into a NOT NULL column",
    1062: "duplicate key",
    1064: "SQL syntax error",
    1264: "value out of range",
    1265: "data truncated",
    1292: "incorrect value",
    1366: "incorrect value",
    1406: "data too long",
    1136: "wrong number of values",
    1452: "foreign key constraint fails",
    3140: "invalid JSON",
}
DUPLICATE_ENTRY = 1062
NO_SUCH_TABLE = 1146


def chunk_id(key: str) -> str:
    """A fixed-size ledger key for a chunk key (paths can be long)."""
    return hashlib.sha1(key.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class Ledger:
    """Where the backend records committed positions; None of these when checkpoints are off."""

    schema: str
    task: str

    @property
    def table(self) -> str:
        """Quoted ledger table name."""
        return f"{quote_identifier(self.schema)}.{LEDGER_TABLE}"


class TiDBBackend:
    """Imports rows by running SQL on the ``[tidb]`` server (TiDB, MySQL, MariaDB)."""

    name = "tidb"

    def __init__(self, *, config: Any, task: str) -> None:
        self._address: TargetAddress = address_from_config(config)
        sql_mode = config.tidb.sql_mode or ""
        self._no_backslash_escapes = sql_mode_has(sql_mode, "NO_BACKSLASH_ESCAPES")
        self.accepts_raw_sql = not sql_mode_has(sql_mode, "ANSI_QUOTES")
        """Rows of SQL dumps are sent as their source text (same dialect: the reader honours
        the target's NO_BACKSLASH_ESCAPES), unless ANSI_QUOTES would read the dump's double-
        quoted strings as identifiers."""
        self._statement_bytes = int(
            getattr(config.tikv_importer, "logical_import_batch_size", 0) or DEFAULT_STATEMENT_BYTES
        )
        self._ledger = (
            Ledger(schema=config.checkpoint.schema, task=task) if config.checkpoint.enable else None
        )
        self._conn: Any = None

    @property
    def connection(self) -> Any:
        """This process's connection to the target (opened on first use)."""
        if self._conn is None:
            conn = connect(self._address, autocommit=True)
            # String literals are bytes to store as they are, the way mydumper's dumps ask
            # (SET NAMES binary): a latin1 column gets its latin1 bytes back. Text that is
            # known to be Unicode is sent with a _utf8mb4 introducer instead.
            with conn.cursor() as cur:
                cur.execute("SET NAMES binary")
            self._conn = conn
        return self._conn

    def prepare(self) -> None:
        """Create the progress ledger when checkpoints are on."""
        if self._ledger is None:
            return
        with self.connection.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(self._ledger.schema)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {self._ledger.table} ("
                " task VARCHAR(64) NOT NULL, chunk CHAR(40) NOT NULL,"
                " `offset` BIGINT NOT NULL, `rows` BIGINT NOT NULL, `bytes` BIGINT NOT NULL,"
                " columns_json TEXT, mid TINYINT NOT NULL,"
                " PRIMARY KEY (task, chunk))"
            )

    def committed_positions(self, chunk_keys: list[str]) -> dict[str, ChunkState]:
        """Positions the ledger holds for these chunks (the truth after a crash)."""
        if self._ledger is None:
            return {}
        by_id = {chunk_id(key): key for key in chunk_keys}
        with self.connection.cursor() as cur:
            cur.execute(
                f"SELECT chunk, `offset`, `rows`, `bytes`, columns_json, mid "
                f"FROM {self._ledger.table} WHERE task = %s",
                (self._ledger.task,),
            )
            found = {}
            for cid, offset, rows, nbytes, columns_json, mid in cur.fetchall():
                key = by_id.get(cid.decode() if isinstance(cid, bytes) else cid)
                if key is None:
                    continue
                columns = json.loads(columns_json) if columns_json else None
                position = ReadPosition(
                    offset=offset,
                    rows=rows,
                    columns=tuple(columns) if columns is not None else None,
                    mid_statement=bool(mid),
                )
                found[key] = ChunkState(position=position, rows=rows, bytes=nbytes)
        return found

    def forget_chunks(self, chunk_keys: list[str]) -> None:
        """Drop the ledger rows of these chunks (their table starts over)."""
        ledger = self._ledger
        if ledger is None or not chunk_keys:
            return
        ids = [chunk_id(key) for key in chunk_keys]

        def delete() -> None:
            import pymysql

            marks = ",".join(["%s"] * len(ids))
            try:
                with self.connection.cursor() as cur:
                    cur.execute(
                        f"DELETE FROM {ledger.table} WHERE task = %s AND chunk IN ({marks})",
                        (ledger.task, *ids),
                    )
            except pymysql.err.ProgrammingError as exc:
                if error_code(exc) != NO_SUCH_TABLE:
                    raise

        with_retries(delete, what=f"forget the progress of {len(ids)} chunks in {ledger.table}")

    def forget_task(self) -> None:
        """Drop the ledger rows of this task (after a fully successful import)."""
        ledger = self._ledger
        if ledger is None:
            return

        def delete() -> None:
            import pymysql

            try:
                with self.connection.cursor() as cur:
                    cur.execute(f"DELETE FROM {ledger.table} WHERE task = %s", (ledger.task,))
            except pymysql.err.ProgrammingError as exc:
                if error_code(exc) != NO_SUCH_TABLE:  # no ledger: nothing to forget
                    raise

        with_retries(delete, what=f"forget the progress of task {ledger.task} in {ledger.table}")
        drop_if_unused(self.connection, ledger.schema, LEDGER_TABLE)

    def count_rows(self, table: TargetTable) -> int:
        """``SELECT COUNT(*)`` of a target table."""
        with self.connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {table.quoted}")
            return int(cur.fetchone()[0])

    def open_writer(
        self, *, table: TargetTable, chunk: Chunk, strategy: ConflictStrategy
    ) -> TiDBWriter:
        """A writer for one chunk of ``table``."""
        encoder = SqlStatementEncoder(
            table,
            strategy,
            no_backslash_escapes=self._no_backslash_escapes,
            max_bytes=self._statement_bytes,
        )
        return TiDBWriter(self, encoder, chunk, strategy)

    def finish_table(self, table: TargetTable) -> None:
        """Nothing to flush: every batch was committed as it was written."""

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


class TiDBWriter:
    """Writes the batches of one chunk, one transaction per batch."""

    def __init__(
        self,
        backend: TiDBBackend,
        encoder: SqlStatementEncoder,
        chunk: Chunk,
        strategy: ConflictStrategy,
    ) -> None:
        self._backend = backend
        self._encoder = encoder
        self._chunk = chunk
        self._strategy = strategy
        self._path = chunk.file.path
        self._ledger_sql: str | None = None
        ledger = backend._ledger
        if ledger is not None:
            self._ledger_sql = (
                f"INSERT INTO {ledger.table} (task, chunk, `offset`, `rows`, `bytes`, "
                "columns_json, mid) VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY "
                "UPDATE `offset` = VALUES(`offset`), `rows` = VALUES(`rows`), "
                "`bytes` = VALUES(`bytes`), columns_json = VALUES(columns_json), mid = VALUES(mid)"
            )
            self._ledger_key = (ledger.task, chunk_id(chunk.key))

    def append_rows(self, batch: RowBatch, total_bytes: int = 0) -> ChunkResult:
        """Write a batch in one transaction with its ledger row; retried on transient errors.

        :param total_bytes: source bytes of the chunk read up to the batch end (for the ledger).
        """
        statements = self._encoder.encode(batch, self._path)
        sent = sum(len(s.sql) for s in statements)

        attempts = 0

        def transaction() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._already_committed(batch.end):
                return  # the connection broke after COMMIT reached the server
            conn = self._backend.connection
            try:
                with conn.cursor() as cur:
                    cur.execute("BEGIN")
                    for statement in statements:
                        cur.execute(statement.sql)
                    if self._ledger_sql is not None:
                        end = batch.end
                        columns = json.dumps(list(end.columns)) if end.columns is not None else None
                        cur.execute(
                            self._ledger_sql,
                            (
                                *self._ledger_key,
                                end.offset,
                                end.rows,
                                total_bytes,
                                columns,
                                int(end.mid_statement),
                            ),
                        )
                    cur.execute("COMMIT")
            except Exception as exc:
                self._rollback(exc)
                raise

        try:
            with_retries(transaction, what=f"write {self._encoder.table.quoted} from {self._path}")
        except TargetError as exc:
            code = error_code(exc.__cause__) if exc.__cause__ is not None else None
            if code in ROW_ERRORS:
                self._raise_for_row(batch, exc.__cause__)  # type: ignore[arg-type]
            raise
        return ChunkResult(rows=batch.count, bytes=sent)

    def _already_committed(self, end: ReadPosition) -> bool:
        if self._ledger_sql is None:
            return False
        saved = self._backend.committed_positions([self._chunk.key]).get(self._chunk.key)
        return saved is not None and saved.position.offset >= end.offset

    def _rollback(self, exc: BaseException) -> None:
        if error_code(exc) in CONNECTION_ERRORS or (is_transient(exc) and error_code(exc) is None):
            self._backend._reconnect()
            return
        try:
            with self._backend.connection.cursor() as cur:
                cur.execute("ROLLBACK")
        except Exception:
            self._backend._reconnect()

    def _raise_for_row(self, batch: RowBatch, cause: BaseException) -> None:
        """Find the row of ``batch`` the server refuses and raise an error that names it."""
        conn = self._backend.connection
        culprit = None
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                for index in range(batch.count):
                    try:
                        cur.execute(self._encoder.single_row(batch, index, self._path))
                    except Exception as refused:
                        culprit = (index, refused)
                        break
        finally:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK")
        index, error = culprit if culprit is not None else (0, cause)
        where = f"{self._path}:{batch.offsets[index]}"
        table = self._encoder.table.quoted
        code = error_code(error)
        message = error.args[1] if len(getattr(error, "args", ())) > 1 else str(error)
        if code == DUPLICATE_ENTRY:
            key = message.removeprefix("Duplicate entry ")
            self._strategy.on_duplicate_error(table, key, where)
            raise DuplicateKeyError(f"{table}: {message} at {where}")
        raise EncodeError(
            f"{where}: the target refused the row for {table}: {message} "
            f"({ROW_ERRORS.get(code or 0, 'error')}); fix the row or the target table, then run "
            "again to resume"
        ) from error

    def close(self) -> None:
        """Nothing buffered: batches are committed as they come."""
