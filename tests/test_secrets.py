"""Secrets stay secret: DSN passwords, the TiDB password's ways in, the checkpoint file's mode."""

from __future__ import annotations

import os
import stat
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.checkpoints.file_store import FileCheckpointStore
from lightning_core.config import TIDB_PASSWORD_ENV, apply_environment, config_from_toml, redacted
from lightning_core.dsn import parse_dsn, redact_dsn
from lightning_core.errors import ConfigError
from lightning_core.testing.pytest_plugin import MARIADB_HOST, MARIADB_PORT
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

SECRET = "hunter2-s3cret"

MALFORMED_DSNS = [
    f"root:{SECRET}@tcp(127.0.0.1)/",  # no port
    f"root:{SECRET}@127.0.0.1:3306",  # no tcp(...)
    f"root:{SECRET}",  # no address at all
    f"root:{SECRET}(127.0.0.1:3306)/",  # '@' forgotten
    f"root:hun@{SECRET}@tcp(127.0.0.1",  # unclosed address, '@' in the password
]


def test_dsn_password_may_contain_at_and_colon() -> None:
    parts = parse_dsn("lt:p@ss:w@rd@tcp(db.example:4000)/")
    assert (parts.user, parts.password, parts.host, parts.port) == (
        "lt",
        "p@ss:w@rd",
        "db.example",
        4000,
    )
    assert redact_dsn("lt:p@ss:w@rd@tcp(db.example:4000)/") == "lt:******@tcp(db.example:4000)/"


def test_dsn_without_password_parses() -> None:
    parts = parse_dsn("root@tcp(127.0.0.1:3306)/")
    assert (parts.user, parts.password) == ("root", "")


@pytest.mark.parametrize("dsn", MALFORMED_DSNS)
def test_malformed_dsn_error_and_redaction_hide_the_password(dsn: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_dsn(dsn)
    assert SECRET not in str(caught.value)
    assert "[checkpoint] dsn" in str(caught.value)
    assert SECRET not in redact_dsn(dsn)
    config = config_from_toml(f'[checkpoint]\ndriver = "mysql"\ndsn = "{dsn}"')
    assert SECRET not in repr(redacted(config))


@pytest.mark.parametrize("dsn", MALFORMED_DSNS[:3])
def test_malformed_dsn_is_not_printed_on_stderr_or_in_the_log(tmp_path: Path, dsn: str) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "db-schema-create.sql").write_text("CREATE DATABASE `db`;\n")
    (dump / "db.t-schema.sql").write_text("CREATE TABLE `t` (a INT);\n")
    (dump / "db.t.000000000.sql").write_text("INSERT INTO `t` VALUES (1);\n")
    log_file = tmp_path / "lightning.log"
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(dump, checkpoint="unused")
        .replace('driver = "file"', 'driver = "mysql"')
        .replace('dsn = "unused"', f'dsn = "{dsn}"')
        .replace('file = "-"', f'file = "{log_file}"\nlevel = "debug"')
        .replace('level = "info"\n', "")
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1, result.stderr
    assert "[checkpoint] dsn" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert SECRET not in log_file.read_text()


def test_checkpoint_file_is_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # the mode must not depend on a strict umask
    try:
        store = FileCheckpointStore(str(tmp_path / "cp.json"))
        store.append([{"type": "settings"}])
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "cp.json").stat().st_mode) == 0o600


def test_environment_password_sits_between_file_and_flag() -> None:
    config = config_from_toml('[tidb]\npassword = "from-file"')
    assert apply_environment(config, {}).tidb.password == "from-file"
    assert apply_environment(config, {TIDB_PASSWORD_ENV: "from-env"}).tidb.password == "from-env"


@pytest.fixture
def password_user(target_connection: Any) -> Iterator[tuple[str, str]]:
    """A user whose password has ``@`` and ``:`` in it, allowed everything; dropped after."""
    user = f"lt_pw_{uuid.uuid4().hex[:8]}"
    password = f"x@{SECRET}:y"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%'")
    yield user, password
    with target_connection.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def _descendants(pid: int) -> set[int]:
    """``pid``'s live child processes, and theirs."""
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = {int(c) for c in task.read_text().split()}
            except OSError:
                continue
            pending.extend(children - found)
            found |= children
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_password_from_environment_reaches_every_worker_and_no_command_line(
    tmp_path: Path, target_connection: Any, password_user: tuple[str, str]
) -> None:
    user, password = password_user
    target = f"lt_secret_{uuid.uuid4().hex[:8]}"
    ledger = f"lt_secret_cp_{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{target}-schema-create.sql").write_text(f"CREATE DATABASE `{target}`;\n")
    (dump / f"{target}.t-schema.sql").write_text("CREATE TABLE `t` (a INT PRIMARY KEY, b TEXT);\n")
    for part in range(40):
        rows = ((part * 2000 + i, "x" * 200) for i in range(2000))
        write_sql_dump(str(dump / f"{target}.t.{part:09d}.sql"), "t", None, rows)
    log_file = tmp_path / "lightning.log"
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(dump, checkpoint=tmp_path / "unused", checkpoint_schema=ledger)
        .replace('driver = "file"', 'driver = "mysql"')
        .replace(
            f'dsn = "{tmp_path / "unused"}"',
            f'dsn = "{user}:{password}@tcp({MARIADB_HOST}:{MARIADB_PORT})/"',
        )
        .replace('user = "root"', f'user = "{user}"')
        .replace('password = ""\n', "")
        .replace('file = "-"', f'file = "{log_file}"')
        .replace('level = "info"', 'level = "debug"')
    )
    process = subprocess.Popen(
        [*lightning_command(), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, TIDB_PASSWORD_ENV: password},
    )
    cmdlines: dict[int, str] = {}
    try:
        while process.poll() is None:
            for pid in {process.pid, *_descendants(process.pid)}:
                cmdlines.setdefault(pid, _cmdline(pid))
            time.sleep(0.01)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()
        with target_connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{target}`.t")
            assert cur.fetchone()[0] == 80_000
    finally:
        process.kill()
        with target_connection.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{target}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{ledger}`")
    workers = set(cmdlines) - {process.pid}
    assert workers, "no worker process was seen"
    assert all(password not in line and SECRET not in line for line in cmdlines.values())
    assert SECRET not in (out + err).decode()
    assert SECRET not in log_file.read_text()
