"""The ``mysql`` checkpoint store: records kept in a table of the target server.

``[checkpoint] driver = "mysql"`` keeps them in ``<schema>.checkpoint_log`` on the server given
by ``[checkpoint] dsn`` (``user:password@tcp(host:port)/``, as TiDB Lightning writes it) or, when
the dsn is empty, on the ``[tidb]`` target — as Loader kept its checkpoints.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from lightning_core.dsn import parse_dsn
from lightning_core.sqltext import quote_identifier
from lightning_core.target import TargetAddress, connect, drop_if_unused, with_retries


def address_from_dsn(dsn: str) -> TargetAddress:
    """The server of a Go-style MySQL DSN (``root:pw@tcp(127.0.0.1:3306)/``)."""
    parts = parse_dsn(dsn)
    return TargetAddress(host=parts.host, port=parts.port, user=parts.user, password=parts.password)


class MySQLCheckpointStore:
    """Records as rows of ``<schema>.checkpoint_log``, one log per task name."""

    def __init__(self, address: TargetAddress, schema: str, task: str) -> None:
        self._address = address
        self._schema = quote_identifier(schema)
        self._schema_name = schema
        self._task = task
        self.location = f"{schema}.checkpoint_log on {address.label}"
        self._conn: Any = None

    def _cursor(self) -> Any:
        if self._conn is None:
            self._conn = connect(self._address)
            with self._conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {self._schema}")
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._schema}.checkpoint_log ("
                    " id BIGINT AUTO_INCREMENT PRIMARY KEY,"
                    " task VARCHAR(255) NOT NULL,"
                    " record LONGTEXT NOT NULL,"
                    " KEY (task))"
                )
        return self._conn.cursor()

    def _retry_rules(self) -> dict[str, Any]:
        """A lost connection is opened again; a server restart of some seconds is survived.
        (A record written twice, when the connection broke after its commit, folds the same.)"""
        return {"retries": 6, "on_retry": lambda _error: self.close()}

    def read(self) -> list[dict[str, Any]]:
        """Every record of this task, oldest first."""

        def select() -> list[dict[str, Any]]:
            with self._cursor() as cur:
                cur.execute(
                    f"SELECT record FROM {self._schema}.checkpoint_log WHERE task = %s ORDER BY id",
                    (self._task,),
                )
                return [json.loads(row[0]) for row in cur.fetchall()]

        return with_retries(
            select, what=f"read checkpoints from {self.location}", **self._retry_rules()
        )

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Insert records (autocommit)."""
        rows = [(self._task, json.dumps(r, separators=(",", ":"))) for r in records]

        def insert() -> None:
            with self._cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self._schema}.checkpoint_log (task, record) VALUES (%s, %s)",
                    rows,
                )

        with_retries(insert, what=f"write checkpoints to {self.location}", **self._retry_rules())

    def replace(self, records: Iterable[dict[str, Any]]) -> None:
        """Delete this task's records and insert ``records``, in one transaction."""
        rows = [(self._task, json.dumps(r, separators=(",", ":"))) for r in records]

        def swap() -> None:
            with self._cursor() as cur:
                try:
                    cur.execute("BEGIN")
                    cur.execute(
                        f"DELETE FROM {self._schema}.checkpoint_log WHERE task = %s", (self._task,)
                    )
                    cur.executemany(
                        f"INSERT INTO {self._schema}.checkpoint_log (task, record) VALUES (%s, %s)",
                        rows,
                    )
                    cur.execute("COMMIT")
                except Exception:
                    self.close()  # a broken transaction dies with its connection
                    raise

        with_retries(swap, what=f"rewrite checkpoints in {self.location}", **self._retry_rules())

    def reset(self) -> None:
        """Delete this task's records."""
        with self._cursor() as cur:
            cur.execute(f"DELETE FROM {self._schema}.checkpoint_log WHERE task = %s", (self._task,))
        drop_if_unused(self._conn, self._schema_name, "checkpoint_log")
        self.close()  # the next use creates the table again

    def close(self) -> None:
        """Close the connection (a broken one is just dropped)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.close()
