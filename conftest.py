"""Test-suite settings: plugin load failures are fatal unless a test says otherwise."""

import os

from lightning_core.plugins import STRICT_ENV

os.environ.setdefault(STRICT_ENV, "1")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Leave no database behind: the default checkpoint schema (the tidb backend's ledger and
    the mysql checkpoint store keep their tables there) is dropped when it holds only theirs;
    tests that stop an import on purpose leave rows in it."""
    from lightning_core.testing.pytest_plugin import connect_target

    try:
        conn = connect_target()
    except Exception:  # no server: the tests said so already
        return
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = 'tidb_lightning_checkpoint'"
            )
            tables = {row[0] for row in cur.fetchall()}
            if tables <= {"tidb_backend_progress", "checkpoint_log"}:
                cur.execute("DROP DATABASE IF EXISTS tidb_lightning_checkpoint")
    finally:
        conn.close()
