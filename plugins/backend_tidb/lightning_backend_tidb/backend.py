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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lightning_backend_tidb.encoder import SqlStatementEncoder
from lightning_core import (
    CONNECTION_ERRORS,
    Chunk,
    ChunkProgress,
    ConflictStrategy,
    DuplicateKeyError,
    EncodeError,
    Encoder,
    Engine,
    PluginError,
    ReadPosition,
    RowBatch,
    TargetAddress,
    TargetError,
    TargetTable,
    address_from_config,
    connect,
    drop_if_unused,
    error_code,
    failpoint,
    is_transient,
    quote_identifier,
    sql_mode_has,
    with_retries,
)

if TYPE_CHECKING:
    from lightning_core import KVChecksum, LightningConfig

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
#: Access denied to a database / for a command on a table.
NO_RIGHTS = frozenset({1044, 1142})


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


class _Session:
    """One process's connection to the target and the task's ledger."""

    def __init__(self, config: LightningConfig, task: str) -> None:
        self._address: TargetAddress = address_from_config(config)
        self.ledger = (
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

    def durable(self, chunk_keys: Sequence[str]) -> dict[str, ChunkProgress]:
        """Positions the ledger holds for these chunks (the truth after a crash)."""
        if self.ledger is None:
            return {}
        by_id = {chunk_id(key): key for key in chunk_keys}
        with self.connection.cursor() as cur:
            cur.execute(
                f"SELECT chunk, `offset`, `rows`, `bytes`, columns_json, mid "
                f"FROM {self.ledger.table} WHERE task = %s",
                (self.ledger.task,),
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
                found[key] = ChunkProgress(position=position, bytes=nbytes)
        return found

    def reconnect(self) -> None:
        """Drop the connection; the next use opens a new one."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _refuse_without_rights(exc: BaseException, ledger: Ledger) -> None:
    """Turn the server's "access denied" on the ledger into what to do about it."""
    if error_code(exc) in NO_RIGHTS:
        raise TargetError(
            f"the tidb backend keeps its progress ledger in {ledger.table} on the target, but "
            f"the user may not write there ({exc.args[-1] if exc.args else exc}); grant it "
            f"CREATE, SELECT, INSERT, UPDATE, DELETE and DROP on "
            f"{quote_identifier(ledger.schema)}.*, or set [checkpoint] schema to a database "
            "it may write (or [checkpoint] enable = false)"
        ) from None


class TiDBBackend:
    """The main process's side: the progress ledger. Rows are in the target as soon as a
    writer returns, so engines need no closing or importing (each step is a no-op)."""

    name = "tidb"

    def __init__(self, *, config: LightningConfig, task: str) -> None:
        self._session = _Session(config, task)

    def prepare(self, source_bytes: int) -> None:
        """Create the progress ledger when checkpoints are on."""
        ledger = self._session.ledger
        if ledger is None:
            return
        import pymysql

        try:
            with self._session.connection.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(ledger.schema)}")
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {ledger.table} ("
                    " task VARCHAR(64) NOT NULL, chunk CHAR(40) NOT NULL,"
                    " `offset` BIGINT NOT NULL, `rows` BIGINT NOT NULL, `bytes` BIGINT NOT NULL,"
                    " columns_json TEXT, mid TINYINT NOT NULL,"
                    " PRIMARY KEY (task, chunk))"
                )
        except pymysql.err.MySQLError as exc:
            _refuse_without_rights(exc, ledger)
            raise

    def durable(self, chunk_keys: Sequence[str]) -> dict[str, ChunkProgress]:
        """Positions the ledger holds for these chunks."""
        return self._session.durable(chunk_keys)

    def close_engine(self, engine: Engine) -> None:
        """Nothing to close: every batch was committed as it was written."""

    def import_engine(self, engine: Engine) -> None:
        """Nothing to import: the rows are in the target."""

    def cleanup_engine(self, engine: Engine) -> None:
        """Nothing kept per engine."""

    def forget_chunks(self, chunk_keys: Sequence[str]) -> None:
        """Drop the ledger rows of these chunks (their table starts over)."""
        ledger = self._session.ledger
        if ledger is None or not chunk_keys:
            return
        ids = [chunk_id(key) for key in chunk_keys]
        marks = ",".join(["%s"] * len(ids))
        self._delete(
            f"DELETE FROM {ledger.table} WHERE task = %s AND chunk IN ({marks})",
            (ledger.task, *ids),
            what=f"forget the progress of {len(ids)} chunks in {ledger.table}",
        )

    def forget_task(self) -> None:
        """Drop the ledger rows of this task (after a fully successful import)."""
        ledger = self._session.ledger
        if ledger is None:
            return
        self._delete(
            f"DELETE FROM {ledger.table} WHERE task = %s",
            (ledger.task,),
            what=f"forget the progress of task {ledger.task} in {ledger.table}",
        )
        drop_if_unused(self._session.connection, ledger.schema, LEDGER_TABLE)

    def resolved_checksum(self, table: str) -> KVChecksum | None:
        """None: statements resolve duplicates on the server and no KV checksum is kept."""
        return None

    def _delete(self, sql: str, arguments: tuple[str, ...], *, what: str) -> None:
        def delete() -> None:
            import pymysql

            try:
                with self._session.connection.cursor() as cur:
                    cur.execute(sql, arguments)
            except pymysql.err.MySQLError as exc:
                if error_code(exc) == NO_SUCH_TABLE:  # no ledger: nothing to forget
                    return
                assert self._session.ledger is not None
                _refuse_without_rights(exc, self._session.ledger)
                self._session.reconnect()
                raise

        with_retries(delete, what=what)

    def close(self) -> None:
        """Close the connection."""
        self._session.close()


class TiDBWorker:
    """A worker process's side: opens writers on this process's connection."""

    def __init__(
        self,
        *,
        config: LightningConfig,
        task: str,
        strategy: ConflictStrategy,
        encoder: Callable[..., Encoder[object]] | None,
    ) -> None:
        if encoder is None:
            raise PluginError('the tidb backend needs an encoder (encoder = "sql")')
        self._session = _Session(config, task)
        self._config = config
        self._strategy = strategy
        self._encoder = encoder
        self.accepts_raw_sql = not sql_mode_has(config.tidb.sql_mode or "", "ANSI_QUOTES")
        """Rows of SQL dumps are sent as their source text (same dialect: the reader honours
        the target's NO_BACKSLASH_ESCAPES), unless ANSI_QUOTES would read the dump's double-
        quoted strings as identifiers."""

    def open_writer(
        self,
        *,
        table: TargetTable,
        engine: Engine,
        index_engine: Engine,
        chunk: Chunk,
        start: ChunkProgress | None,
    ) -> TiDBWriter:
        """A writer for one chunk of ``table``."""
        encoder = self._encoder(table=table, strategy=self._strategy, config=self._config)
        if not isinstance(encoder, SqlStatementEncoder):
            raise PluginError(
                f"the tidb backend writes SQL statements, but encoder {type(encoder).__name__} "
                'makes something else; install an encoder registered as "sql"'
            )
        return TiDBWriter(self._session, encoder, chunk, self._strategy)

    def close(self) -> None:
        """Close this process's connection."""
        self._session.close()


class TiDBWriter:
    """Writes the batches of one chunk, one transaction per batch."""

    def __init__(
        self,
        session: _Session,
        encoder: SqlStatementEncoder,
        chunk: Chunk,
        strategy: ConflictStrategy,
    ) -> None:
        self._session = session
        self._encoder = encoder
        self._chunk = chunk
        self._strategy = strategy
        self._path = chunk.file.path
        self._ledger_sql: str | None = None
        ledger = session.ledger
        if ledger is not None:
            self._ledger_sql = (
                f"INSERT INTO {ledger.table} (task, chunk, `offset`, `rows`, `bytes`, "
                "columns_json, mid) VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY "
                "UPDATE `offset` = VALUES(`offset`), `rows` = VALUES(`rows`), "
                "`bytes` = VALUES(`bytes`), columns_json = VALUES(columns_json), mid = VALUES(mid)"
            )
            self._ledger_key = (ledger.task, chunk_id(chunk.key))

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress:
        """Write a batch in one transaction with its ledger row; retried on transient errors.

        :param source_bytes: source bytes of the chunk read up to the batch end.
        :returns: the chunk's progress: the batch is committed.
        """
        statements = self._encoder.encode_batch(batch, self._path)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: %d rows of %s up to offset %d in %d statements, %d bytes",
                self._encoder.table.quoted,
                batch.count,
                self._path,
                batch.end.offset,
                len(statements),
                sum(len(s.sql) for s in statements),
            )

        attempts = 0

        def transaction() -> None:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._already_committed(batch.end):
                return  # the connection broke after COMMIT reached the server
            conn = self._session.connection
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
                                source_bytes,
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
        failpoint("tidb:committed")
        return ChunkProgress(position=batch.end, bytes=source_bytes)

    def _already_committed(self, end: ReadPosition) -> bool:
        if self._ledger_sql is None:
            return False
        saved = self._session.durable([self._chunk.key]).get(self._chunk.key)
        return saved is not None and saved.position.offset >= end.offset

    def _rollback(self, exc: BaseException) -> None:
        if error_code(exc) in CONNECTION_ERRORS or (is_transient(exc) and error_code(exc) is None):
            self._session.reconnect()
            return
        try:
            with self._session.connection.cursor() as cur:
                cur.execute("ROLLBACK")
        except Exception:
            self._session.reconnect()

    def _raise_for_row(self, batch: RowBatch, cause: BaseException) -> None:
        """Find the row of ``batch`` the server refuses and raise an error that names it."""
        conn = self._session.connection
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
        return None
