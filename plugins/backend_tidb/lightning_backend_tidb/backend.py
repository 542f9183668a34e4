"""The TiDB backend: statements per batch, one transaction per batch, progress in the same one.

Each batch of source rows is written in one transaction together with a row of the progress
ledger (``<checkpoint schema>.tidb_backend_progress``). A run killed at any moment therefore
finds, on resume, exactly the batches that were committed: no row is lost or written twice,
whatever ``on-duplicate`` says.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from lightning_backend_tidb.bad_rows import (
    NAMED_ROWS,
    BadRow,
    BadRowPolicy,
    error_tables_ddl,
    over_budget,
)
from lightning_backend_tidb.encoder import SqlStatementEncoder, Statement
from lightning_backend_tidb.load_data import REFUSED, load_statement, memory_file, tsv
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
    human_bytes,
    is_transient,
    quote_identifier,
    sql_mode_has,
    statement_limit,
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
#: Row errors that are the source's fault, never tolerated by max-error (Lightning's syntax).
SYNTAX_ERRORS = frozenset({1064, 1136})
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
        self.task = task
        self.load_data = config.tidb.load_data == "auto"
        """Parsed rows go by LOAD DATA LOCAL INFILE (until the server refuses it)."""
        self.ledger = (
            Ledger(schema=config.checkpoint.schema, task=task) if config.checkpoint.enable else None
        )
        self._conn: Any = None

    @functools.cached_property
    def packet_limit(self) -> int:
        """The longest statement to send: the smaller of the server's ``max_allowed_packet``
        and ``[tidb] max-allowed-packet``."""
        return with_retries(
            lambda: statement_limit(self.connection, self._address),
            what="read the target's max_allowed_packet",
            on_retry=lambda _exc: self.reconnect(),
        )

    @property
    def connection(self) -> Any:
        """This process's connection to the target (opened on first use)."""
        if self._conn is None:
            conn = connect(self._address, autocommit=True, local_infile=self.load_data)
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
                f"SELECT chunk, `offset`, `rows`, `bytes`, columns_json, mid, warnings, skipped "
                f"FROM {self.ledger.table} WHERE task = %s",
                (self.ledger.task,),
            )
            found = {}
            for cid, offset, rows, nbytes, columns_json, mid, warnings, skipped in cur.fetchall():
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
                found[key] = ChunkProgress(
                    position=position, bytes=nbytes, warnings=warnings, skipped=skipped
                )
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
        self._policy = BadRowPolicy.from_config(config)

    def prepare(self, source_bytes: int) -> None:
        """Create the progress ledger when checkpoints are on, and the error tables of
        ``[lightning] max-error``."""
        if self._policy.records:
            with self._session.connection.cursor() as cur:
                for statement in error_tables_ddl(self._policy.schema):
                    cur.execute(statement)
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
                    " warnings BIGINT NOT NULL DEFAULT 0, skipped BIGINT NOT NULL DEFAULT 0,"
                    " PRIMARY KEY (task, chunk))"
                )
                cur.execute(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS"
                    " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                    (ledger.schema, LEDGER_TABLE),
                )
                have = {row[0].decode() if isinstance(row[0], bytes) else row[0] for row in cur}
                for column in ("warnings", "skipped"):  # a ledger an older version created
                    if column not in have:
                        cur.execute(
                            f"ALTER TABLE {ledger.table} ADD COLUMN {column} BIGINT NOT NULL "
                            "DEFAULT 0"
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
        return TiDBWriter(
            self._session,
            encoder,
            chunk,
            self._strategy,
            policy=BadRowPolicy.from_config(self._config),
            start=start,
        )

    def close(self) -> None:
        """Close this process's connection."""
        self._session.close()


@attrs.frozen
class _Written:
    """What one batch's transaction wrote besides its rows."""

    warnings: int = 0
    """Warnings of the target (values changed to fit), duplicate keys under ignore excepted."""
    skipped: int = 0
    """Rows refused and skipped within max-error's type budget."""
    charged: dict[str, int] = attrs.Factory(dict)
    """max-error kind → rows charged to its budget."""


#: LOAD DATA's keyword for each strategy it can do (LOCAL without one skips duplicates).
_LOAD_VERBS = {"replace": "REPLACE", "ignore": "IGNORE", "error": ""}

#: Ledger rows that count what max-error's budgets spent (the chunk column holds these names).
_BUDGET_ROWS = {"type": "max-error:type", "conflict": "max-error:conflict"}


class TiDBWriter:
    """Writes the batches of one chunk, one transaction per batch."""

    def __init__(
        self,
        session: _Session,
        encoder: SqlStatementEncoder,
        chunk: Chunk,
        strategy: ConflictStrategy,
        *,
        policy: BadRowPolicy,
        start: ChunkProgress | None = None,
    ) -> None:
        self._session = session
        self._encoder = encoder
        self._chunk = chunk
        self._strategy = strategy
        self._policy = policy
        self._path = chunk.file.path
        self._warnings = start.warnings if start is not None else 0
        self._skipped = start.skipped if start is not None else 0
        self._named = 0
        """Bad rows this writer named in the log (the first few)."""
        self._spent: dict[str, int] = {}
        """Budget spent by this writer, where no ledger row counts it for the whole task."""
        self._ledger_sql: str | None = None
        ledger = session.ledger
        if ledger is not None:
            self._ledger_sql = (
                f"INSERT INTO {ledger.table} (task, chunk, `offset`, `rows`, `bytes`, "
                "columns_json, mid, warnings, skipped) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON DUPLICATE KEY UPDATE `offset` = VALUES(`offset`), `rows` = VALUES(`rows`), "
                "`bytes` = VALUES(`bytes`), columns_json = VALUES(columns_json), "
                "mid = VALUES(mid), warnings = VALUES(warnings), skipped = VALUES(skipped)"
            )
            self._ledger_key = (ledger.task, chunk_id(chunk.key))

    def append_rows(self, batch: RowBatch, *, source_bytes: int) -> ChunkProgress:
        """Write a batch in one transaction with its ledger row; retried on transient errors.

        :param source_bytes: source bytes of the chunk read up to the batch end.
        :returns: the chunk's progress: the batch is committed.
        """
        rows = self._load_data_rows(batch)
        statements = [] if rows is not None else self._encoder.encode_batch(batch, self._path)
        self._check_sizes(batch, statements)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: %d rows of %s up to offset %d in %s, %d bytes",
                self._encoder.table.quoted,
                batch.count,
                self._path,
                batch.end.offset,
                "LOAD DATA" if rows is not None else f"{len(statements)} statements",
                len(rows) if rows is not None else sum(len(s.sql) for s in statements),
            )

        attempts = 0

        def transaction() -> _Written:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._already_committed(batch.end):
                return _Written()  # the connection broke after COMMIT reached the server
            conn = self._session.connection
            try:
                with conn.cursor() as cur:
                    cur.execute("BEGIN")
                    written = self._write(cur, batch, statements, rows)
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
                                self._warnings + written.warnings,
                                self._skipped + written.skipped,
                            ),
                        )
                    cur.execute("COMMIT")
            except Exception as exc:
                self._rollback(exc)
                raise
            return written

        try:
            written = with_retries(
                transaction, what=f"write {self._encoder.table.quoted} from {self._path}"
            )
        except TargetError as exc:
            code = error_code(exc.__cause__) if exc.__cause__ is not None else None
            if code in ROW_ERRORS:
                self._raise_for_row(batch, exc.__cause__)  # type: ignore[arg-type]
            raise
        self._warnings += written.warnings
        self._skipped += written.skipped
        if self._ledger_sql is None:
            for kind, count in written.charged.items():
                self._spent[kind] = self._spent.get(kind, 0) + count
        failpoint("tidb:committed")
        return ChunkProgress(
            position=batch.end,
            bytes=source_bytes,
            warnings=self._warnings,
            skipped=self._skipped,
        )

    def _check_sizes(self, batch: RowBatch, statements: Sequence[Statement]) -> None:
        """Stop before sending a statement the server would refuse for its length."""
        limit = self._session.packet_limit
        for statement in statements:
            if len(statement.sql) <= limit:
                continue
            size, most = human_bytes(len(statement.sql)), human_bytes(limit)
            where = f"{self._path}:{batch.offsets[statement.first]}"
            table = self._encoder.table.quoted
            if statement.count == 1:
                raise EncodeError(
                    f"{where}: the row for {table} is a statement of {size}, more than "
                    f"max_allowed_packet ({most}, the smaller of the server's and [tidb] "
                    "max-allowed-packet); raise both (SET GLOBAL max_allowed_packet on the "
                    "server), then run again to resume"
                )
            raise EncodeError(
                f"{where}: {statement.count} rows for {table} make a statement of {size}, more "
                f"than max_allowed_packet ({most}); set [tikv-importer] logical-import-batch-size "
                "below it, then run again to resume"
            )

    def _load_data_rows(self, batch: RowBatch) -> bytes | None:
        """The batch for LOAD DATA, or None where it goes by INSERT: SQL text, a strategy
        LOAD DATA has no keyword for, a value the format cannot carry, or a row of the wrong
        width (the INSERT path names it)."""
        verb = _LOAD_VERBS.get(self._strategy.name)
        if (
            not self._session.load_data
            or batch.texts is not None
            or not batch.offsets
            or verb is None
            or self._encoder.has_tail
        ):
            return None
        width = len(self._encoder.target_columns(batch, self._path))
        if any(len(row) != width for row in batch.rows):
            return None
        return tsv(batch.rows)

    def _send(
        self, cur: Any, batch: RowBatch, statements: Sequence[Statement], rows: bytes | None
    ) -> tuple[int, int]:
        """Write the batch (LOAD DATA, or its statements); affected rows and warnings."""
        import pymysql

        if rows is not None:
            verb = _LOAD_VERBS[self._strategy.name]
            columns = self._encoder.target_columns(batch, self._path)
            try:
                with memory_file(rows) as path:
                    table = self._encoder.table.quoted
                    affected = cur.execute(load_statement(path, verb, table, columns))
                return affected, cur.warning_count
            except pymysql.err.MySQLError as exc:
                if error_code(exc) not in REFUSED:
                    raise
                log.warning(
                    "the target refuses LOAD DATA LOCAL INFILE (%s); rows go by INSERT", exc
                )
                self._session.load_data = False
                statements = self._encoder.encode_batch(batch, self._path)
                self._check_sizes(batch, statements)
        warnings = affected = 0
        for statement in statements:
            affected += cur.execute(statement.sql)
            warnings += cur.warning_count
        return affected, warnings

    def _write(
        self, cur: Any, batch: RowBatch, statements: Sequence[Statement], rows: bytes | None
    ) -> _Written:
        """Write the batch in the open transaction; a batch the target refuses a row of
        (within max-error) or warns about is replayed row by row to find the rows."""
        import pymysql

        try:
            affected, warnings = self._send(cur, batch, statements, rows)
        except pymysql.err.MySQLError as exc:
            code = error_code(exc)
            if code not in ROW_ERRORS or code in SYNTAX_ERRORS or is_transient(exc):
                raise
            duplicate = code == DUPLICATE_ENTRY
            if not (self._policy.records if duplicate else self._policy.type_limit > 0):
                raise  # nothing to record or tolerate: the row is named, the table stops
            return self._replay(cur, batch)
        conflicts = self._conflicts(batch.count, affected)
        if self._strategy.name == "ignore" or (rows is not None and self._strategy.name == "error"):
            warnings = max(0, warnings - conflicts)  # each ignored duplicate is a warning
        if rows is not None and self._strategy.name == "error" and affected < batch.count:
            return self._replay(cur, batch)  # LOCAL skipped a duplicate: find it by INSERT
        if warnings and (self._policy.counts_warnings or self._named < NAMED_ROWS):
            return self._replay(cur, batch)
        return _Written(warnings=warnings, charged=self._charge_conflicts(cur, batch, conflicts))

    def _conflicts(self, rows: int, affected: int) -> int:
        """Rows that met an existing key: REPLACE counts a replaced row twice, INSERT IGNORE
        (and LOAD DATA LOCAL without a verb) does not count a skipped one."""
        if self._strategy.name == "replace":
            return max(0, affected - rows)
        return max(0, rows - affected)

    def _replay(self, cur: Any, batch: RowBatch) -> _Written:
        """Write ``batch`` again row by row in a new transaction; name, count, charge and
        record the rows the target refuses (skipped) or changes (kept)."""
        import pymysql

        cur.execute("ROLLBACK")
        cur.execute("BEGIN")
        bad: list[BadRow] = []
        texts: list[bytes] = []
        warnings = affected = 0
        ignore = self._strategy.name == "ignore"
        for index in range(batch.count):
            sql = self._encoder.single_row(batch, index, self._path)
            texts.append(self._encoder.row_text(batch, index))
            offset = batch.offsets[index]
            try:
                affected += cur.execute(sql)
            except pymysql.err.MySQLError as exc:
                code = error_code(exc)
                if code not in ROW_ERRORS or code in SYNTAX_ERRORS or is_transient(exc):
                    raise
                bad.append(
                    BadRow(
                        index=index,
                        offset=offset,
                        error=_message(exc),
                        refused=True,
                        duplicate=code == DUPLICATE_ENTRY,
                    )
                )
                continue
            if cur.warning_count:
                cur.execute("SHOW WARNINGS")
                shown = [
                    (level, code, text)
                    for level, code, text in cur.fetchall()
                    if not (ignore and code == DUPLICATE_ENTRY)
                ]
                if shown:
                    warnings += len(shown)
                    error = "; ".join(f"{_text(lv)} {code}: {_text(tx)}" for lv, code, tx in shown)
                    bad.append(BadRow(index=index, offset=offset, error=error, refused=False))
        self._name_in_log(bad)
        table = self._encoder.table.quoted
        duplicate = next((row for row in bad if row.duplicate), None)
        if duplicate is not None:  # on-duplicate = "error": recorded, then the table stops
            cur.execute("ROLLBACK")
            self._policy.record(
                cur,
                task=self._session.task,
                table=table,
                path=self._path,
                rows=[duplicate],
                texts=texts,
                first_row_id=batch.end.rows - batch.count,
            )
            self._stop_on_duplicate(duplicate.error, f"{self._path}:{duplicate.offset}")
        counted = [row for row in bad if row.refused or self._policy.counts_warnings]
        charged = self._charge_conflicts(cur, batch, self._conflicts(batch.count, affected))
        if counted:
            total = self._charge(cur, "type", len(counted))
            if total > self._policy.type_limit:
                raise over_budget(
                    table=table,
                    path=self._path,
                    total=total,
                    limit=self._policy.type_limit,
                    rows=counted,
                )
            charged["type"] = len(counted)
            self._policy.record(
                cur,
                task=self._session.task,
                table=table,
                path=self._path,
                rows=counted,
                texts=texts,
            )
        skipped = sum(row.refused for row in bad)
        return _Written(warnings=warnings, skipped=skipped, charged=charged)

    def _name_in_log(self, bad: Sequence[BadRow]) -> None:
        table = self._encoder.table.quoted
        for row in bad[: max(0, NAMED_ROWS - self._named)]:
            what = "refused" if row.refused else "changed values of"
            log.warning(
                "%s:%d: the target %s the row for %s: %s",
                self._path,
                row.offset,
                what,
                table,
                row.error,
            )
        self._named += len(bad)

    def _charge_conflicts(self, cur: Any, batch: RowBatch, conflicts: int) -> dict[str, int]:
        """Charge key conflicts under replace / ignore to max-error's conflict budget."""
        limit = self._policy.conflict_limit
        if limit is None or not conflicts:
            return {}
        total = self._charge(cur, "conflict", conflicts)
        if total > limit:
            raise EncodeError(
                f"{self._encoder.table.quoted}: {total} rows met an existing key "
                f"({self._strategy.name}) and exceed [lightning] max-error conflict = {limit}, "
                f"the last in the rows of {self._path} from offset {batch.offsets[0]}; raise the "
                "limit or remove the duplicates, then run again to resume"
            )
        return {"conflict": conflicts}

    def _charge(self, cur: Any, kind: str, count: int) -> int:
        """Add ``count`` to the task's spending of max-error's ``kind`` budget (in the open
        transaction: committed with the batch) and return the new total."""
        if self._ledger_sql is None:
            return self._spent.get(kind, 0) + count
        ledger = self._session.ledger
        assert ledger is not None
        row = (ledger.task, _BUDGET_ROWS[kind])
        cur.execute(
            f"INSERT INTO {ledger.table} (task, chunk, `offset`, `rows`, `bytes`, mid) VALUES "
            "(%s, %s, 0, %s, 0, 0) ON DUPLICATE KEY UPDATE `rows` = `rows` + VALUES(`rows`)",
            (*row, count),
        )
        cur.execute(f"SELECT `rows` FROM {ledger.table} WHERE task = %s AND chunk = %s", row)
        return int(cur.fetchone()[0])

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
        message = _message(error)
        if code == DUPLICATE_ENTRY:
            self._stop_on_duplicate(message, where)
        raise EncodeError(
            f"{where}: the target refused the row for {table}: {message} "
            f"({ROW_ERRORS.get(code or 0, 'error')}); fix the row or the target table, then run "
            "again to resume"
        ) from error

    def _stop_on_duplicate(self, message: str, where: str) -> NoReturn:
        """Let the strategy stop the import on a duplicate key, or stop it here."""
        table = self._encoder.table.quoted
        self._strategy.on_duplicate_error(table, message.removeprefix("Duplicate entry "), where)
        raise DuplicateKeyError(f"{table}: {message} at {where}")

    def close(self) -> None:
        """Nothing buffered: batches are committed as they come."""
        return None


def _message(error: BaseException) -> str:
    """The server's text of an error, without its code."""
    return str(error.args[1]) if len(getattr(error, "args", ())) > 1 else str(error)


def _text(value: object) -> str:
    """A column of SHOW WARNINGS as text (the session's character set is binary)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
