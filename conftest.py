"""Test-suite settings: plugin load failures are fatal unless a test says otherwise."""

import os
import shutil
import tempfile

from lightning_core.plugins import STRICT_ENV

os.environ.setdefault(STRICT_ENV, "1")

# Everything the tests and the imports they run leave in the temporary directory (pytest's
# tmp_path, TiDB Lightning's default timestamped log files, worker sockets) goes into one
# directory that is removed when the session ends.
_SESSION_TMP = tempfile.mkdtemp(prefix="lightning-tests-")
os.chmod(_SESSION_TMP, 0o755)  # the server writes SELECT ... INTO OUTFILE files in there
os.environ["TMPDIR"] = _SESSION_TMP
tempfile.tempdir = None


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """Leave nothing behind: the session's temporary directory, and the default checkpoint
    schema (the tidb backend's ledger and the mysql checkpoint store keep their tables there)
    when it holds only theirs — tests that stop an import on purpose leave rows in it."""
    from lightning_core.testing.pytest_plugin import connect_target

    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
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
