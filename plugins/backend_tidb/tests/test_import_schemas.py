"""End to end: schema files, views, routes and character sets imported as Lightning imports them
(issue 16 items 2, 3, 5, 6, 8 and issue 14 item 15), into the real MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.tasks import run_lightning, task_config

pytestmark = pytest.mark.slow


@pytest.fixture
def names(target_connection: Any) -> Iterator[Callable[[str], str]]:
    """Unique database names for one test (``names("a")``); all dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []

    def name(suffix: str) -> str:
        made.append(f"lt_{tag}_{suffix}")
        return made[-1]

    yield name
    with target_connection.cursor() as cur:
        cur.execute("SHOW DATABASES")
        for (database,) in cur.fetchall():
            if tag in database:  # also the names a broken import may have made of them
                cur.execute(f"DROP DATABASE `{database.replace('`', '``')}`")


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_bytes(text.encode() if isinstance(text, str) else text)
    return root


def import_dump(tmp_path: Path, dump: Path, mydumper: str = "", extra: str = "") -> Any:
    config = task_config(dump, extra=extra).replace("[mydumper]\n", f"[mydumper]\n{mydumper}")
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(config)
    return run_lightning(["--config", str(path)])


def databases(conn: Any, tag: str) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return {row[0] for row in cur.fetchall() if tag in row[0]}


def rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def one_table(db: str, table: str = "t") -> dict[str, str | bytes]:
    return {
        f"{db}.{table}-schema.sql": f"CREATE TABLE `{table}` (id int PRIMARY KEY, v varchar(10));",
        f"{db}.{table}.sql": f"INSERT INTO `{table}` VALUES (1,'x'),(2,'y');",
    }


# --- 16.2: schema-create files ---------------------------------------------------------------


def test_schema_create_file_gives_only_its_character_set_and_collation(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str]
) -> None:
    odd, latin, unknown = names("odd"), names("latin"), names("unknown")
    dump = write(
        tmp_path / "dump",
        {
            f"{odd}-schema-create.sql": f"CREATE DATABASE `{odd}` IF NOT EXISTS;\n",
            f"{latin}-schema-create.sql": (
                f"/*!40101 SET NAMES binary*/;\nCREATE DATABASE /*!32312 IF NOT EXISTS*/ "
                f"`{latin}` /*!40100 DEFAULT CHARACTER SET latin1 COLLATE latin1_general_ci */ "
                "PLACEMENT POLICY = `p1`;\n"
            ),
            f"{unknown}-schema-create.sql": (
                f"CREATE DATABASE `{unknown}` DEFAULT CHARSET=utf8mb4 "
                "COLLATE=utf8mb4_0900_ai_ci ENCRYPTION='N';\n"
            ),
            **one_table(odd),
            **one_table(latin),
            **one_table(unknown),
        },
    )
    result = import_dump(tmp_path, dump)
    assert result.returncode == 0, result.stderr
    found = dict(
        (name, (charset, collation))
        for name, charset, collation in rows(
            target_connection,
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
            "FROM information_schema.SCHEMATA "
            f"WHERE SCHEMA_NAME IN ('{odd}', '{latin}', '{unknown}')",
        )
    )
    assert found[latin] == ("latin1", "latin1_general_ci")
    assert found[unknown][0] == "utf8mb4"  # the collation the target lacks is left out
    assert found[unknown][1] != "utf8mb4_0900_ai_ci"
    assert "utf8mb4_0900_ai_ci is unknown to the target" in result.stderr
    for db in (odd, latin, unknown):
        assert rows(target_connection, f"SELECT id FROM `{db}`.t ORDER BY id") == [(1,), (2,)]


# --- 16.3: views over views, across databases, in any file order ------------------------------


@pytest.mark.parametrize("stand_ins", [True, False], ids=["dumpling-stand-ins", "views-only"])
def test_views_over_views_across_databases(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str], stand_ins: bool
) -> None:
    first, second = names("a"), names("b")  # files of `first` come first
    files: dict[str, str | bytes] = {
        f"{first}-schema-create.sql": f"CREATE DATABASE `{first}`;",
        f"{second}-schema-create.sql": f"CREATE DATABASE `{second}`;",
        **one_table(second, "base"),
        # first.v_a uses second.v_b, which uses first.v_c, which uses second.base
        f"{first}.v_a-schema-view.sql": (
            "/*!40101 SET NAMES binary*/;\nDROP TABLE IF EXISTS `v_a`;\n"
            "CREATE ALGORITHM=UNDEFINED DEFINER=`nobody`@`%` SQL SECURITY DEFINER VIEW `v_a` AS "
            f"SELECT `id`, `v` FROM `{second}`.`v_b` WHERE `id` > 1;\n"
        ),
        f"{second}.v_b-schema-view.sql": f"CREATE VIEW `v_b` AS SELECT * FROM `{first}`.`v_c`;",
        f"{first}.v_c-schema-view.sql": f"CREATE VIEW `v_c` AS SELECT * FROM `{second}`.base;",
    }
    if stand_ins:
        for db, view in ((first, "v_a"), (second, "v_b"), (first, "v_c")):
            files[f"{db}.{view}-schema.sql"] = f"CREATE TABLE `{view}` (id int, v varchar(10));"
    result = import_dump(tmp_path, write(tmp_path / "dump", files))
    assert result.returncode == 0, result.stderr
    assert rows(target_connection, f"SELECT id, v FROM `{first}`.v_a") == [(2, "y")]
    kinds = rows(
        target_connection,
        "SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA IN ('{first}', '{second}') ORDER BY TABLE_NAME",
    )
    assert kinds == [
        ("base", "BASE TABLE"),
        ("v_a", "VIEW"),
        ("v_b", "VIEW"),
        ("v_c", "VIEW"),
    ]


def test_a_view_over_a_missing_table_names_its_file(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str]
) -> None:
    db = names("a")
    dump = write(
        tmp_path / "dump",
        {
            f"{db}-schema-create.sql": f"CREATE DATABASE `{db}`;",
            f"{db}.v-schema-view.sql": "CREATE VIEW `v` AS SELECT * FROM `nowhere`;",
        },
    )
    result = import_dump(tmp_path, dump)
    assert result.returncode == 1
    assert f"{dump / (db + '.v-schema-view.sql')}: the target refused the view" in result.stderr


# --- 16.5: no-schema with schema files and no data ------------------------------------------------


def test_no_schema_with_schema_files_only_imports_nothing(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str]
) -> None:
    db = names("a")
    dump = write(
        tmp_path / "dump",
        {
            f"{db}-schema-create.sql": f"CREATE DATABASE `{db}`;",
            f"{db}.t-schema.sql": "CREATE TABLE t (id int);",
            f"{db}.u-schema.sql": "CREATE TABLE u (id int);",
        },
    )
    result = import_dump(tmp_path, dump, mydumper="no-schema = true\n")
    assert result.returncode == 0, result.stderr
    assert databases(target_connection, db) == set()


# --- 16.8: only databases that receive tables are created ----------------------------------------


def test_a_database_routed_away_is_not_created(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str]
) -> None:
    moved, into, empty, renamed, plain = (
        names("moved"),
        names("into"),
        names("empty"),
        names("renamed"),
        names("plain"),
    )
    dump = write(
        tmp_path / "dump",
        {
            f"{moved}-schema-create.sql": f"CREATE DATABASE `{moved}`;",
            **one_table(moved, "t1"),
            **one_table(moved, "t2"),
            f"{empty}-schema-create.sql": f"CREATE DATABASE `{empty}`;",  # schema-only route
            f"{plain}-schema-create.sql": f"CREATE DATABASE `{plain}`;",  # no tables, no route
        },
    )
    routes = (
        f'[[routes]]\nschema-pattern = "{moved}"\ntable-pattern = "*"\n'
        f'target-schema = "{into}"\n'
        f'[[routes]]\nschema-pattern = "{empty}"\ntarget-schema = "{renamed}"\n'
    )
    result = import_dump(tmp_path, dump, extra=routes)
    assert result.returncode == 0, result.stderr
    tag = moved.rsplit("_", 1)[0]
    assert databases(target_connection, tag) == {into, renamed, plain}
    assert rows(target_connection, f"SELECT COUNT(*) FROM `{into}`.t1") == [(2,)]


# --- 14.15: names are data, never regular-expression templates ---------------------------------


@pytest.mark.parametrize("suffix", [r"rel_db\1", r"rel_db\n", r"rel\g<0>"])
def test_backslashes_in_routed_names_are_kept(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str], suffix: str
) -> None:
    source = names("src")
    target = names(suffix)
    dump = write(
        tmp_path / "dump",
        {
            f"{source}-schema-create.sql": f"CREATE DATABASE `{source}` DEFAULT CHARSET utf8mb4;",
            **one_table(source),
            f"{source}.v-schema-view.sql": "CREATE VIEW `v` AS SELECT id FROM t;",
        },
    )
    route = target.replace("\\", "\\\\")
    extra = f'[[routes]]\nschema-pattern = "{source}"\ntarget-schema = "{route}"\n'
    result = import_dump(tmp_path, dump, extra=extra)
    assert result.returncode == 0, result.stderr
    assert databases(target_connection, target.split("_")[1]) == {target}
    quoted = target.replace("`", "``")
    assert rows(target_connection, f"SELECT id FROM `{quoted}`.v ORDER BY id") == [(1,), (2,)]


# --- 16.6: the character set of schema files --------------------------------------------------


def _gb18030_dump(root: Path, db: str) -> Path:
    return write(
        root,
        {
            f"{db}-schema-create.sql": f"CREATE DATABASE `{db}`;",
            f"{db}.t-schema.sql": (
                "CREATE TABLE `t` (`编号` int PRIMARY KEY, `v` varchar(10) COMMENT '名称；值') "
                "COMMENT='表`注释';"
            ).encode("gb18030"),
            f"{db}.t.sql": "INSERT INTO `t` VALUES (1,'x');",
        },
    )


@pytest.mark.parametrize("character_set", ["auto", "gb18030"])
def test_gb18030_schema_files_are_converted(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str], character_set: str
) -> None:
    db = names("gb")
    dump = _gb18030_dump(tmp_path / "dump", db)
    result = import_dump(tmp_path, dump, mydumper=f'character-set = "{character_set}"\n')
    assert result.returncode == 0, result.stderr
    columns = rows(
        target_connection,
        "SELECT COLUMN_NAME, COLUMN_COMMENT FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{db}' ORDER BY ORDINAL_POSITION",
    )
    assert columns == [("编号", ""), ("v", "名称；值")]
    assert rows(
        target_connection,
        f"SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'",
    ) == [("表`注释",)]
    said = "not UTF-8; read as GB18030" in result.stderr
    assert said is (character_set == "auto")  # mixed encodings are not silent


def test_a_schema_file_not_in_the_chosen_character_set_is_an_error_naming_it(
    tmp_path: Path, target_connection: Any, names: Callable[[str], str]
) -> None:
    db = names("gb")
    dump = _gb18030_dump(tmp_path / "dump", db)
    result = import_dump(tmp_path, dump, mydumper='character-set = "utf8mb4"\n')
    assert result.returncode == 1
    assert f"{dump / (db + '.t-schema.sql')}: byte offset" in result.stderr
    assert "not valid utf8mb4" in result.stderr
