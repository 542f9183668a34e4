"""End to end: JSON documents whose strings hold escapes (``\\\\``, ``\\u000b``, ``\\u001B``, ...)
reach a JSON column unchanged, from SQL files (passed through, and parsed under ANSI_QUOTES) and
from CSV files, imported with the TiDB backend into the real MariaDB."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.tasks import run_lightning, task_config

pytestmark = pytest.mark.slow

DOCUMENTS = [
    r'{"path": "C:\\dir\\file", "end": "\\"}',
    r'{"vt": "a\u000bb", "esc": "\u001B[0m", "ESC": "\u001b"}',
    r'["\\u000b", "\\\\u001B", "\/", "\"quoted\""]',
    r'{"nul": "\u0000", "tab": "\t", "nl": "\n", "cr": "\r", "bs": "\b", "ff": "\f"}',
    r'{"emoji": "\ud83d\ude00", "raw": "😀 ñ", "quote": "it' + "'" + r's"}',
    '{"ctrl-z": "\\u001a", "text": "100% \\\\_ %"}',
]


def sql_string(text: str, sql_mode: str) -> str:
    """``text`` as mysqldump writes a string: backslash escapes for ``\\``, quotes, NUL...;
    under NO_BACKSLASH_ESCAPES only the quote is doubled."""
    if "NO_BACKSLASH_ESCAPES" in sql_mode:
        return "'" + text.replace("'", "''") + "'"
    escapes = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\0": "\\0"}
    return "'" + "".join(escapes.get(char, char) for char in text) + "'"


def csv_field(text: str) -> str:
    """``text`` as a quoted CSV field with backslash escapes (``[mydumper.csv]`` defaults)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '""') + '"'


@pytest.fixture
def db(target_connection: Any) -> Iterator[str]:
    name = f"lt_json_{uuid.uuid4().hex[:10]}"
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def write_dump(root: Path, db: str, data_name: str, data: str) -> Path:
    root.mkdir()
    (root / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;")
    (root / f"{db}.docs-schema.sql").write_text(
        "CREATE TABLE `docs` (id int PRIMARY KEY, doc json);"
    )
    (root / data_name).write_text(data, encoding="utf-8")
    return root


def stored(conn: Any, db: str) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT doc FROM `{db}`.docs ORDER BY id")
        return [row[0] for row in cur.fetchall()]


@pytest.mark.parametrize(
    "sql_mode",
    [
        "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION",
        "NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES",
        "ANSI_QUOTES,STRICT_TRANS_TABLES",
        "ANSI,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES",
    ],
    ids=["passed-through", "passed-through-nbe", "parsed-ansi-quotes", "parsed-ansi-nbe"],
)
def test_json_escapes_from_sql_files_are_stored_unchanged(
    tmp_path: Path, target_connection: Any, db: str, sql_mode: str
) -> None:
    values = ",".join(f"({i},{sql_string(doc, sql_mode)})" for i, doc in enumerate(DOCUMENTS))
    dump = write_dump(
        tmp_path / "dump", db, f"{db}.docs.sql", f"INSERT INTO `docs` VALUES {values};\n"
    )
    config = task_config(dump).replace(
        'sql-mode = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"', f'sql-mode = "{sql_mode}"'
    )
    assert sql_mode in config
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(config)
    result = run_lightning(["--config", str(path)])
    assert result.returncode == 0, result.stderr
    found = stored(target_connection, db)
    assert found == DOCUMENTS
    assert [json.loads(doc) for doc in found] == [json.loads(doc) for doc in DOCUMENTS]


def test_json_escapes_from_csv_files_are_stored_unchanged(
    tmp_path: Path, target_connection: Any, db: str
) -> None:
    lines = "".join(f"{i},{csv_field(doc)}\n" for i, doc in enumerate(DOCUMENTS))
    dump = write_dump(tmp_path / "dump", db, f"{db}.docs.csv", "id,doc\n" + lines)
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(task_config(dump))
    result = run_lightning(["--config", str(path)])
    assert result.returncode == 0, result.stderr
    assert stored(target_connection, db) == DOCUMENTS


def test_a_document_nested_deeper_than_mariadb_allows_is_a_row_error(
    tmp_path: Path, target_connection: Any, db: str
) -> None:
    # MySQL and TiDB take 100 levels; MariaDB's JSON_VALID refuses 32 (docs/tidb-backend.md)
    deep = "[" * 32 + "]" * 32
    data = f"INSERT INTO `docs` VALUES (1,'{deep[1:-1]}'),(2,'{deep}');\n"
    dump = write_dump(tmp_path / "dump", db, f"{db}.docs.sql", data)
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(task_config(dump))
    result = run_lightning(["--config", str(path)])
    assert result.returncode == 1
    assert "CONSTRAINT `docs.doc` failed" in result.stderr
