"""The SQL reader read as TiDB Lightning reads dumps: comments, statements, CONVERT, literals.

Each test here failed before the behaviour it names was fixed (issue 13 items 1-5, issue 16
item 1).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
import zstandard

from lightning_core.errors import SourceError
from lightning_core.interfaces import BinaryLiteral, RowBatch
from lightning_core.source import sql_reader
from lightning_core.testing.sqldump import write_sql_dump
from tests.source.test_sql_reader import read_batches, read_rows

READ_SIZES = [1, 2, 7, 64]
"""Tiny reads, so that every token and comment is cut by a read boundary somewhere."""

COMMENTED_DUMP = b"""/*!40101 SET NAMES binary*/;
-- a comment line; that is long enough to be cut by any read size at all
INSERT INTO t VALUES (1,'a'),(2,'b');
# another comment; with a semicolon and INSERT INTO t VALUES (666);
INSERT INTO t VALUES (3,'c');
--\tcomment after a tab; x
/* block; INSERT INTO t VALUES (667); */
INSERT /* c */ INTO `t` -- c
 (`a`, /* c */ `b`) # c
 VALUES /* c */ (4,'d') -- c
 , /* c */ (5,'e') # c
 ;
-- last line, no newline"""


def snapshot(batches: list[RowBatch]) -> list[tuple[Any, ...]]:
    return [(b.columns, b.rows, b.texts, b.offsets, b.end) for b in batches]


@pytest.fixture
def sql_file(tmp_path: Path) -> Any:
    def write(data: bytes, name: str = "db.t.sql") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


# -- 13.1: tiny read sizes give the rows and positions of the default size ------------------


@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_comment_cut_by_the_read_boundary_loses_no_insert(
    sql_file: Any, monkeypatch: pytest.MonkeyPatch, raw_sql: bool
) -> None:
    path = sql_file(COMMENTED_DUMP)
    expected = snapshot(read_batches(path, raw_sql=raw_sql))
    count = sum(len(b.offsets) for b in read_batches(path, raw_sql=raw_sql))
    assert count == 5
    for size in READ_SIZES:
        monkeypatch.setattr(sql_reader, "_MIN_BLOCK", size)
        assert snapshot(read_batches(path, raw_sql=raw_sql)) == expected, f"read size {size}"


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_every_read_size_reads_a_dump_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: str | None, raw_sql: bool
) -> None:
    plain = tmp_path / "plain.sql"
    rows = [(i, f"name {i}; -- #".encode(), None if i % 3 else b"x\\y'z") for i in range(60)]
    write_sql_dump(str(plain), "t", ["a", "b", "c"], rows, rows_per_statement=7)
    data = COMMENTED_DUMP.replace(b"-- last line, no newline", b"\n") + plain.read_bytes()
    path = tmp_path / f"db.t.sql{'.' + compression if compression else ''}"
    if compression == "gz":
        path.write_bytes(gzip.compress(data))
    elif compression == "zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        path.write_bytes(data)
    expected = snapshot(read_batches(path, compression=compression, raw_sql=raw_sql))
    assert sum(len(b.offsets) for b in read_batches(path, compression=compression)) == 65
    for size in READ_SIZES:
        monkeypatch.setattr(sql_reader, "_MIN_BLOCK", size)
        got = snapshot(read_batches(path, compression=compression, raw_sql=raw_sql))
        assert got == expected, f"read size {size}"


# -- 13.2: statements other than the ones dumps hold are errors -----------------------------


@pytest.mark.parametrize(
    "statement",
    [b"INSRT INTO t VALUES (1);", b"DELETE FROM t;", b"CREATE TABLE t (a int);", b"SELECT 1;"],
)
@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_unknown_statement_is_an_error_at_its_offset(
    sql_file: Any, statement: bytes, raw_sql: bool
) -> None:
    data = b"INSERT INTO t VALUES (0);\n" + statement + b"\nINSERT INTO t VALUES (2);\n"
    path = sql_file(data)
    with pytest.raises(SourceError, match="unexpected statement") as info:
        read_batches(path, raw_sql=raw_sql)
    assert info.value.offset == data.index(statement)
    assert str(info.value).startswith(f"{path}:{data.index(statement)}: ")
    assert statement[:10].decode() in str(info.value)


def test_statements_dumps_hold_are_skipped(sql_file: Any) -> None:
    data = b"""SET NAMES binary;
set @@session.time_zone = '+00:00';
USE `db`;
LOCK TABLES `t` WRITE;
begin;
START  TRANSACTION;
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
INSERT INTO t VALUES (1);
COMMIT;
UNLOCK /* c */ TABLES;
;
"""
    assert read_rows(sql_file(data)) == [(1,)]


# -- 13.3: CONVERT(... USING ...) and charset introducers -----------------------------------

CONVERTED = b"""INSERT INTO `t` VALUES (1,CONVERT('{\\"a\\": 1}' USING utf8mb4),
 _utf8mb4'\xc3\xa9',_binary'\\0x'),
(2,convert( _utf8mb4"[1, 2]"  using  utf8mb4 ),_latin1'x',_binary 0x31),
(3,CONVERT(X'7B7D' USING utf8mb4),N'n',NULL);
"""


def test_convert_using_and_introducers_are_values(sql_file: Any) -> None:
    assert read_rows(sql_file(CONVERTED)) == [
        (1, b'{"a": 1}', b"\xc3\xa9", b"\x00x"),
        (2, b"[1, 2]", b"x", b"1"),
        (3, b"{}", b"n", None),
    ]


def test_convert_using_and_introducers_in_raw_sql(
    sql_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [text for b in read_batches(sql_file(CONVERTED), raw_sql=True) for text in b.texts]
    assert texts[0].startswith(b"(1,CONVERT('{") and texts[1].startswith(b"(2,convert(")
    monkeypatch.setattr(sql_reader, "_MIN_BLOCK", 2)
    again = [text for b in read_batches(sql_file(CONVERTED), raw_sql=True) for text in b.texts]
    assert again == texts


# -- 13.4: hex and bit literals keep their kind --------------------------------------------


def test_hex_and_bit_literals_are_binary_literals_and_strings_are_not(sql_file: Any) -> None:
    data = b"INSERT INTO t VALUES (0x31,X'31',0b110001,b'110001','1',_binary 0x31);"
    ((*literals, string, introduced),) = read_rows(sql_file(data))
    assert all(type(v) is BinaryLiteral and v == b"1" for v in literals)
    assert type(string) is bytes and type(introduced) is bytes


# -- 13.5: comments -----------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"--", b"--\x01x", b"--\x00", b"-- \n--"])
def test_dash_dash_at_the_end_or_before_a_control_character_is_a_comment(
    sql_file: Any, ending: bytes
) -> None:
    assert read_rows(sql_file(b"INSERT INTO t VALUES (1);\n" + ending)) == [(1,)]


def test_dash_dash_before_a_letter_is_not_a_comment(sql_file: Any) -> None:
    data = b"INSERT INTO t VALUES (1);\n--x\n"
    with pytest.raises(SourceError, match="unexpected statement") as info:
        read_rows(sql_file(data))
    assert info.value.offset == data.index(b"--x")


@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_comments_between_the_tokens_of_an_insert(sql_file: Any, raw_sql: bool) -> None:
    batches = read_batches(sql_file(COMMENTED_DUMP), raw_sql=raw_sql)
    last = batches[-1]
    assert last.columns == ("a", "b")
    if raw_sql:
        assert last.texts == [b"(4,'d')", b"(5,'e')"]
    else:
        assert last.rows == [(4, b"d"), (5, b"e")]
    assert last.offsets == [COMMENTED_DUMP.index(b"(4,"), COMMENTED_DUMP.index(b"(5,")]


def test_unterminated_comment_between_tuples_is_reported(sql_file: Any) -> None:
    data = b"INSERT INTO t VALUES (1), /* never closed (2);"
    with pytest.raises(SourceError, match=re.escape("unterminated comment")) as info:
        read_rows(sql_file(data))
    assert info.value.offset == data.index(b"/*")


# -- 16.1: empty column lists and rows ------------------------------------------------------


@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_empty_column_list_and_empty_rows(sql_file: Any, raw_sql: bool) -> None:
    data = b"INSERT INTO t () VALUES (), ( );\nINSERT INTO `t` ( ) VALUES ();\n"
    batches = read_batches(sql_file(data), raw_sql=raw_sql)  # one column list: one batch
    assert [b.columns for b in batches] == [()]
    if raw_sql:
        assert [b.texts for b in batches] == [[b"()", b"( )", b"()"]]
    else:
        assert [b.rows for b in batches] == [[(), (), ()]]
    assert [b.offsets for b in batches] == [[24, 28, data.index(b"();")]]
