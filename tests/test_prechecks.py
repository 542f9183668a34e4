"""``check-requirements``: Lightning's prechecks that apply here, as a table of pass/warn/fail
with a reason each; ``tidb-lightning check`` runs them alone, and an import stops before it
writes anything when one fails."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.pytest_plugin import MARIADB_HOST, MARIADB_PORT
from lightning_core.testing.tasks import run_lightning, task_config

CHECKS = ["target", "rights", "source", "space", "empty tables", "max-allowed-packet"]


@pytest.fixture
def database(target_connection: Any) -> Iterator[str]:
    """A database name unique to the test (created by the import); it and the tidb backend's
    ledger schema of the task are dropped after."""
    name = f"issue14_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"DROP DATABASE IF EXISTS `{name}_cp`")


def _dump(tmp_path: Path, database: str, statement: str = "(1,'a'),(2,'b')") -> Path:
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{database}-schema-create.sql").write_text(f"CREATE DATABASE `{database}`;\n")
    (dump / f"{database}.t-schema.sql").write_text(
        "CREATE TABLE `t` (`id` int PRIMARY KEY, `v` text);\n"
    )
    (dump / f"{database}.t.000.sql").write_text(f"INSERT INTO `t` VALUES {statement};\n")
    return dump


def _config(tmp_path: Path, dump: Path, database: str, extra: str = "", **kw: Any) -> Path:
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(
            dump,
            checkpoint=tmp_path / "cp.json",
            checkpoint_schema=f"{database}_cp",
            extra=extra,
            **kw,
        )
    )
    return config


def _table(stdout: str) -> dict[str, tuple[str, str]]:
    """The results table: check → (result, reason)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("check "))
    width = lines[start].index("result")
    rows = {}
    for line in lines[start + 1 : start + 1 + len(CHECKS)]:
        outcome, _, reason = line[width:].partition("  ")
        rows[line[:width].strip()] = (outcome.strip(), reason.strip())
    return rows


def _last(stderr: str) -> str:
    """The last line of stderr (the log is there too, with file = "-")."""
    return stderr.rstrip("\n").rsplit("\n", 1)[-1]


def _tables_of(conn: Any, database: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
            (database,),
        )
        return [row[0] for row in cur.fetchall()]


def test_check_alone_passes_and_imports_nothing(
    tmp_path: Path, database: str, target_connection: Any
) -> None:
    config = _config(tmp_path, _dump(tmp_path, database), database)
    result = run_lightning(["check", "--config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    table = _table(result.stdout)
    assert list(table) == CHECKS
    assert {outcome for outcome, _ in table.values()} == {"pass"}, table
    assert (
        "MariaDB" in table["target"][1] and f"{MARIADB_HOST}:{MARIADB_PORT}" in table["target"][1]
    )
    assert "3 files readable: 1 data files of 1 tables" in table["source"][1]
    assert _tables_of(target_connection, database) == []  # nothing imported
    assert not (tmp_path / "cp.json").exists()


def test_failing_checks_exit_non_zero_and_stop_the_import_before_it_writes(
    tmp_path: Path, database: str, target_connection: Any
) -> None:
    dump = _dump(tmp_path, database)
    broken = dump / f"{database}.t.001.sql.gz"
    broken.write_bytes(gzip.compress(b"INSERT INTO `t` VALUES (3,'c');")[:10] + b"\xff" * 20)
    (dump / "notes.txt").write_text("a file no rule matches\n")
    config = _config(tmp_path, dump, database)
    checked = run_lightning(["check", "--config", str(config)])
    assert checked.returncode == 1
    table = _table(checked.stdout)
    outcome, reason = table["source"]
    assert outcome == "fail" and str(broken) in reason and "1 files cannot be read" in reason
    assert _last(checked.stderr).startswith("Error: 1 of 6 prechecks failed: source;")
    imported = run_lightning(["--config", str(config)])
    assert imported.returncode == 1
    assert _last(imported.stderr).startswith("Error: prechecks failed: source: 1 files cannot")
    assert "check-requirements = false" in imported.stderr
    assert _table(imported.stdout)["source"][0] == "fail"  # the table is shown
    assert _tables_of(target_connection, database) == []  # stopped before the schema step
    unchecked = run_lightning(["--config", str(config), "--check-requirements=false"])
    assert unchecked.returncode == 1 and "prechecks" not in unchecked.stderr
    assert _tables_of(target_connection, database) == ["t"]  # got as far as the schema


def test_unmatched_files_warn_without_failing(tmp_path: Path, database: str) -> None:
    dump = _dump(tmp_path, database)
    (dump / "notes.txt").write_text("a file no rule matches\n")
    result = run_lightning(["check", "--config", str(_config(tmp_path, dump, database))])
    assert result.returncode == 0, result.stderr
    outcome, reason = _table(result.stdout)["source"]
    assert outcome == "warn" and "1 files match no file rule" in reason and "notes.txt" in reason


@pytest.fixture
def select_only_user(database: str, target_connection: Any) -> Iterator[tuple[str, str]]:
    """A user that may only read the test's database; dropped after."""
    user, password = f"issue14_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    try:
        with target_connection.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
            cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
        yield user, password
    finally:
        with target_connection.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")


def test_missing_rights_are_named(
    tmp_path: Path, database: str, select_only_user: tuple[str, str]
) -> None:
    user, password = select_only_user
    config = _config(tmp_path, _dump(tmp_path, database), database)
    text = config.read_text().replace('user = "root"', f'user = "{user}"')
    config.write_text(text.replace('password = ""', f'password = "{password}"'))
    result = run_lightning(["check", "--config", str(config)])
    assert result.returncode == 1
    table = _table(result.stdout)
    outcome, reason = table["rights"]
    assert outcome == "fail"
    assert f"user '{user}' lacks INSERT, DELETE, CREATE, ALTER on `{database}`" in reason
    assert table["space"][0] == "fail" and f"{database}_cp" in table["space"][1]  # the ledger
    assert table["target"][0] == "pass"


def test_a_statement_over_max_allowed_packet_is_a_warning_with_its_place(
    tmp_path: Path, database: str
) -> None:
    rows = ",".join(f"({i},'{'x' * 100}')" for i in range(100))  # about 11 KiB
    dump = _dump(tmp_path, database, rows)
    config = _config(tmp_path, dump, database, extra='max-allowed-packet = "4KiB"\n')
    result = run_lightning(["check", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    outcome, reason = _table(result.stdout)["max-allowed-packet"]
    assert outcome == "warn"
    assert (
        f"{dump / f'{database}.t.000.sql'}:0 is 10.6 KiB, more than max_allowed_packet (4.0 KiB"
        in reason
    )
    assert "raise max_allowed_packet" in reason


def test_an_import_stops_at_a_row_over_max_allowed_packet_without_reading_ahead(
    tmp_path: Path, database: str, target_connection: Any
) -> None:
    """The import's precheck does not lex the source (``tidb-lightning check`` does); the
    writer stops at the row itself, naming its place, before sending anything of its batch."""
    rows = ",".join(f"({i},'{'x' * (6000 if i == 7 else 100)}')" for i in range(20))
    dump = _dump(tmp_path, database, rows)
    config = _config(tmp_path, dump, database, extra='max-allowed-packet = "4KiB"\n')
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 1
    data = dump / f"{database}.t.000.sql"
    offset = data.read_bytes().index(b"(7,")
    assert _last(result.stderr) == (
        f"Error: {data}:{offset}: the row for `{database}`.`t` is a statement of 5.9 KiB, "
        "more than max_allowed_packet (4.0 KiB, the smaller of the server's and [tidb] "
        "max-allowed-packet); raise both (SET GLOBAL max_allowed_packet on the server), then "
        "run again to resume"
    )
    assert "check " not in result.stdout  # every precheck passed: no table shown
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{database}`.`t`")
        assert cur.fetchone()[0] == 0  # the batch holding the row was not sent


def test_an_unreachable_target_fails_and_the_checks_that_need_it_are_not_run(
    tmp_path: Path, database: str
) -> None:
    config = _config(tmp_path, _dump(tmp_path, database), database)
    result = run_lightning(["check", "--config", str(config), "--tidb-port", "1"])
    assert result.returncode == 1
    table = _table(result.stdout)
    assert table["target"][0] == "fail" and "127.0.0.1:1" in table["target"][1]
    for check in ("rights", "space", "empty tables", "max-allowed-packet"):
        assert table[check] == ("warn", "not checked: the target is not reachable")
    assert table["source"][0] == "pass"


def test_non_empty_tables_fail_for_the_local_backend(tmp_path: Path, database: str) -> None:
    dump = _dump(tmp_path, database)
    config = _config(tmp_path, dump, database, backend="local")
    local = (
        config.read_text().replace(
            "[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / "sorted"}"\n'
        )
        + f'[plugin.local]\nstore-dir = "{tmp_path / "store"}"\n'
    )
    config.write_text(local)
    before = run_lightning(["check", "--config", str(config)])
    assert before.returncode == 0, before.stdout + before.stderr
    assert _table(before.stdout)["empty tables"][0] == "pass"
    assert _table(before.stdout)["rights"][1].startswith("the local backend writes to ")
    assert run_lightning(["--config", str(config)]).returncode == 0
    again = run_lightning(["check", "--config", str(config)])
    assert again.returncode == 1
    outcome, reason = _table(again.stdout)["empty tables"]
    assert outcome == "fail" and f"`{database}`.`t` have rows" in reason


def test_rights_from_a_role_are_not_refused(
    tmp_path: Path, database: str, select_only_user: tuple[str, str], target_connection: Any
) -> None:
    user, password = select_only_user
    role = f"{user}_role"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE ROLE `{role}`")
        cur.execute(f"GRANT ALL ON `{database}`.* TO `{role}`")
        cur.execute(f"GRANT ALL ON `{database}_cp`.* TO `{role}`")
        cur.execute(f"GRANT `{role}` TO '{user}'@'%'")
        cur.execute(f"SET DEFAULT ROLE `{role}` FOR '{user}'@'%'")
    try:
        config = _config(tmp_path, _dump(tmp_path, database), database)
        text = config.read_text().replace('user = "root"', f'user = "{user}"')
        config.write_text(text.replace('password = ""', f'password = "{password}"'))
        result = run_lightning(["check", "--config", str(config)])
        outcome, reason = _table(result.stdout)["rights"]
        assert outcome == "warn" and "unless its active role has them" in reason
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        with target_connection.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS `{role}`")
