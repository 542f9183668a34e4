"""pytest plugin shipped with tidb-lightning: fixtures for tests of the core and of plugins.

Loaded automatically (entry point ``pytest11``) wherever tidb-lightning is installed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

MARIADB_HOST = os.environ.get("LIGHTNING_TEST_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("LIGHTNING_TEST_MYSQL_PORT", "3306"))
MARIADB_USER = os.environ.get("LIGHTNING_TEST_MYSQL_USER", "root")
MARIADB_PASSWORD = os.environ.get("LIGHTNING_TEST_MYSQL_PASSWORD", "")


def connect_target(database: str | None = None, **kwargs: Any) -> Any:
    """A pymysql connection to the test server; a missing server fails the test, never skips."""
    import pymysql

    try:
        return pymysql.connect(
            host=MARIADB_HOST,
            port=MARIADB_PORT,
            user=MARIADB_USER,
            password=MARIADB_PASSWORD,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            **kwargs,
        )
    except pymysql.err.OperationalError as exc:
        pytest.fail(
            f"the MySQL-protocol test server at {MARIADB_HOST}:{MARIADB_PORT} is not reachable "
            f"({exc}); start it (e.g. start-stop-daemon --start --oknodo --background "
            "--exec /usr/sbin/mariadbd)",
            pytrace=False,
        )


@pytest.fixture
def target_connection() -> Iterator[Any]:
    """An autocommit connection to the test server."""
    conn = connect_target()
    yield conn
    conn.close()


@pytest.fixture
def fresh_database(target_connection: Any) -> Iterator[str]:
    """The name of a new, empty database on the test server, dropped after the test."""
    name = f"lt_{uuid.uuid4().hex[:12]}"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def database_pair(target_connection: Any) -> Iterator[tuple[str, str]]:
    """Two unused database names (say one to load the original into and one for what an
    import produced, or a target and a checkpoint schema), dropped after the test with the
    ``<name>_cp`` ledger a tidb-backend import into them may leave."""
    tag = uuid.uuid4().hex[:8]
    names = (f"lt_{tag}_a", f"lt_{tag}_b")
    yield names
    with target_connection.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{name}_cp`")
