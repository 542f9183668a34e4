"""The SQL dump reader: literals, statements, errors and their offsets, resume, chunk ends."""

from __future__ import annotations

import datetime
import gzip
import itertools
import os
import re
import subprocess
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.config import MydumperConfig
from lightning_core.errors import SourceError
from lightning_core.interfaces import (
    BinaryLiteral,
    Chunk,
    FileKind,
    ReadPosition,
    RowBatch,
    SourceFile,
    SourceReader,
    Value,
)
from lightning_core.source import sql_grammar, sql_reader
from lightning_core.source.sql_reader import SqlReader, statement_ends
from lightning_core.sqltext import format_row
from lightning_core.testing.sqldump import write_sql_dump

NBE = "NO_BACKSLASH_ESCAPES"


def source_file(path: Path | str, compression: str | None = None) -> SourceFile:
    return SourceFile(
        path=str(path),
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format="sql",
        compression=compression,
        size=os.path.getsize(path),
    )


def read_batches(
    path: Path | str,
    *,
    sql_mode: str = "",
    compression: str | None = None,
    offset: int = 0,
    end: int | None = None,
    start: ReadPosition | None = None,
    batch_rows: int = 4096,
    raw_sql: bool = False,
) -> list[RowBatch]:
    chunk = Chunk(file=source_file(path, compression), index=0, offset=offset, end=end)
    reader = SqlReader(
        chunk=chunk,
        mydumper=MydumperConfig(),
        sql_mode=sql_mode,
        start=start,
        batch_rows=batch_rows,
        raw_sql=raw_sql,
    )
    try:
        return list(reader.batches())
    finally:
        reader.close()


def read_rows(path: Path | str, **kwargs: Any) -> list[tuple[Value, ...]]:
    return [row for batch in read_batches(path, **kwargs) for row in batch.rows]


@pytest.fixture
def sql_file(tmp_path: Path) -> Any:
    """Write bytes to a fresh .sql file and return its path."""
    counter = itertools.count()

    def write(data: bytes) -> Path:
        path = tmp_path / f"db.t.{next(counter):03d}.sql"
        path.write_bytes(data)
        return path

    return write


@pytest.fixture
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read 7 bytes at a time so that every token is cut by a block boundary somewhere."""
    monkeypatch.setattr(sql_reader, "_MIN_BLOCK", 7)


# ---------------------------------------------------------------------------------------------
# Literals
# ---------------------------------------------------------------------------------------------

LITERALS: list[tuple[bytes, Value]] = [
    (b"1", 1),
    (b"-17", -17),
    (b"+5", 5),
    (b"007", 7),
    (b"18446744073709551615", 18446744073709551615),
    (b"-1.50", Decimal("-1.50")),
    (b"1e-3", Decimal("0.001")),
    (b"1E3", Decimal("1E+3")),
    (b"2.5e+10", Decimal("2.5E+10")),
    (b".5", Decimal("0.5")),
    (b"-.5", Decimal("-0.5")),
    (b"1.", Decimal("1")),
    (
        b"123456789012345678901234567890.123456789",
        Decimal("123456789012345678901234567890.123456789"),
    ),
    (b"NULL", None),
    (b"null", None),
    (b"NuLl", None),
    (b"\\N", None),
    (b"TRUE", 1),
    (b"false", 0),
    (b"''", b""),
    (b'""', b""),
    (b"'abc'", b"abc"),
    (b'"abc"', b"abc"),
    (b"'it''s'", b"it's"),
    (b'"say ""hi"""', b'say "hi"'),
    (b"'a\"b'", b'a"b'),
    (b'"a\'b"', b"a'b"),
    (b"'a' 'b'", b"ab"),
    (b"'a'\n  \"b\" 'c'", b"abc"),
    (b"_binary 'x\\0y'", b"x\x00y"),
    (b"_utf8mb4'\xc3\xa9'", b"\xc3\xa9"),
    (b"N'nat'", b"nat"),
    (b"0x1F", BinaryLiteral(b"\x1f")),
    (b"0x1f2", BinaryLiteral(b"\x01\xf2")),
    (b"X'1F'", BinaryLiteral(b"\x1f")),
    (b"x'1f0a'", BinaryLiteral(b"\x1f\n")),
    (b"X''", BinaryLiteral(b"")),
    (b"_binary 0x41", b"A"),
    (b"0b101", BinaryLiteral(b"\x05")),
    (b"b'1'", BinaryLiteral(b"\x01")),
    (b"B'100000000'", BinaryLiteral(b"\x01\x00")),
    (b"b'0'", BinaryLiteral(b"\x00")),
    (b"b''", BinaryLiteral(b"")),
    (b"'\xff\xfe\x00binary'", b"\xff\xfe\x00binary"),
    (b"'line1\nline2'", b"line1\nline2"),
    (b"'(,);'", b"(,);"),
    (
        b"'-- not a comment /* nor this */ # nor this'",
        b"-- not a comment /* nor this */ # nor this",
    ),
]

ESCAPES: list[tuple[bytes, bytes]] = [
    (b"\\0", b"\x00"),
    (b"\\'", b"'"),
    (b'\\"', b'"'),
    (b"\\b", b"\x08"),
    (b"\\n", b"\n"),
    (b"\\r", b"\r"),
    (b"\\t", b"\t"),
    (b"\\Z", b"\x1a"),
    (b"\\\\", b"\\"),
    (b"\\%", b"\\%"),
    (b"\\_", b"\\_"),
    (b"\\x", b"x"),
    (b"\\q", b"q"),
    (b"\\\n", b"\n"),
    (b"\\\xc3\xa9", b"\xc3\xa9"),
]


def statement_of(literal: bytes, copies: int = 4) -> bytes:
    # Several identical rows: the first and last take the careful path, the middle ones the
    # fast path, so every literal is checked on both.
    return b"INSERT INTO t VALUES " + b",".join([b"(" + literal + b")"] * copies) + b";\n"


@pytest.mark.parametrize(("literal", "value"), LITERALS, ids=[repr(x[0]) for x in LITERALS])
def test_literal(sql_file: Any, literal: bytes, value: Value) -> None:
    rows = read_rows(sql_file(statement_of(literal)))
    assert rows == [(value,)] * 4
    assert all(type(v) is type(value) for (v,) in rows)


@pytest.mark.parametrize(("literal", "value"), LITERALS, ids=[repr(x[0]) for x in LITERALS])
def test_literal_between_other_values(sql_file: Any, literal: bytes, value: Value) -> None:
    row = b"(1," + literal + b",'z')"
    rows = read_rows(sql_file(b"INSERT INTO t VALUES " + b",\n".join([row] * 5) + b";"))
    assert rows == [(1, value, b"z")] * 5


@pytest.mark.parametrize(("escape", "value"), ESCAPES, ids=[repr(x[0]) for x in ESCAPES])
def test_backslash_escape(sql_file: Any, escape: bytes, value: bytes) -> None:
    single = read_rows(sql_file(statement_of(b"'<" + escape + b">'")))
    double = read_rows(sql_file(statement_of(b'"<' + escape + b'>"')))
    assert single == double == [(b"<" + value + b">",)] * 4


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (b"'a\\b'", b"a\\b"),
        (b"'a\\'", b"a\\"),
        (b"'it''s\\'", b"it's\\"),
        (b"'\\n\\0'", b"\\n\\0"),
        (b'"q\\"', b"q\\"),
        (b'"q\\""x"', b'q\\"x'),
    ],
)
def test_no_backslash_escapes(sql_file: Any, literal: bytes, value: bytes) -> None:
    rows = read_rows(sql_file(statement_of(literal)), sql_mode=f"ANSI_QUOTES,{NBE}")
    assert rows == [(value,)] * 4


def test_no_backslash_escapes_quote_is_not_escaped_by_backslash(sql_file: Any) -> None:
    # In NBE mode 'a\' is a complete string, so ",'b'" is the next value.
    data = b"INSERT INTO t VALUES ('a\\','b');"
    assert read_rows(sql_file(data), sql_mode=NBE) == [(b"a\\", b"b")]
    with pytest.raises(SourceError):
        read_rows(sql_file(data))


def test_whitespace_everywhere(sql_file: Any) -> None:
    data = b"INSERT\n INTO\t`t`\n(\n`a` ,\tb )\nVALUES\n  ( 1 ,\n'x' ) ,\r\n( 2,'y' )  ;"
    batches = read_batches(sql_file(data))
    assert [b.columns for b in batches] == [("a", "b")]
    assert batches[0].rows == [(1, b"x"), (2, b"y")]


def test_wide_and_empty_rows(sql_file: Any) -> None:
    wide = b"(" + b",".join(b"%d" % i for i in range(600)) + b")"
    rows = read_rows(sql_file(b"INSERT INTO t VALUES " + b",".join([wide] * 3) + b";"))
    assert rows == [tuple(range(600))] * 3
    assert read_rows(sql_file(b"INSERT INTO t VALUES (),(),( );")) == [(), (), ()]
    kinds: list[tuple[bytes, Value]] = [
        (b"1", 1), (b"'s'", b"s"), (b"NULL", None), (b"2.5", Decimal("2.5")), (b"0x41", b"A"),
    ]  # fmt: skip
    hundred = [kinds[(i * 7) % 5] for i in range(100)]
    row = b"(" + b",".join(text for text, _ in hundred) + b")"
    swapped = b"(" + b",".join(text for text, _ in reversed(hundred)) + b")"
    data = b"INSERT INTO t VALUES " + b",".join([row] * 3 + [swapped] * 3 + [row] * 3) + b";"
    values = tuple(value for _, value in hundred)
    assert read_rows(sql_file(data)) == [values] * 3 + [values[::-1]] * 3 + [values] * 3


def test_rows_of_varying_width(sql_file: Any) -> None:
    data = b"INSERT INTO t VALUES (1,2),(3,4),(5),(6,7,8),(9,10),(11,12);"
    assert read_rows(sql_file(data)) == [(1, 2), (3, 4), (5,), (6, 7, 8), (9, 10), (11, 12)]


# ---------------------------------------------------------------------------------------------
# Statements and comments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "columns"),
    [
        (b"INSERT INTO t", None),
        (b"insert into `t`", None),
        (b"INSERT IGNORE INTO `db`.`t`", None),
        (b"INSERT LOW_PRIORITY IGNORE INTO db.t", None),
        (b"REPLACE INTO `t`", None),
        (b"replace `t`", None),
        (b"INSERT t", None),
        (b"INSERT INTO `we``ird`.`ta ble` (`a``b`,c,`\xc3\xa9`)", ("a`b", "c", "é")),
        (b"INSERT INTO t(a)", ("a",)),
        (b"INSERT INTO t (a) VALUE", ("a",)),
    ],
)
def test_statement_heads(sql_file: Any, head: bytes, columns: tuple[str, ...] | None) -> None:
    values = b"" if head.endswith(b"VALUE") else b" VALUES"
    batches = read_batches(sql_file(head + values + b" (1),(2);"))
    assert [(b.columns, b.rows) for b in batches] == [(columns, [(1,), (2,)])]


SKIPPED = b"""/*!40101 SET NAMES binary*/;
/*!40014 SET FOREIGN_KEY_CHECKS=0*/;
-- a comment; with a semicolon
# another; comment
/* block ; comment */
SET @x = 'INSERT INTO t VALUES (666);';
SET @y = 'x' /* c; */, @`z;` = ';';
USE `db`;
LOCK TABLES `t` WRITE;
BEGIN;
;
INSERT INTO t VALUES (1);
/*!40000 ALTER TABLE `t` DISABLE KEYS */;
COMMIT;
UNLOCK TABLES;
SET @w = "a;b", @`we;ird` = 'c\\';d', @v = 2--1;
INSERT INTO t VALUES (2);
--
-- trailing comment without newline"""


def test_other_statements_and_comments_are_skipped(sql_file: Any) -> None:
    assert read_rows(sql_file(SKIPPED)) == [(1,), (2,)]


def test_comments_inside_a_tuple_are_refused_where_they_start(sql_file: Any) -> None:
    # Legal SQL, but no dump tool writes it; refuse rather than guess, and point at it.
    data = b"INSERT INTO t VALUES (1), (2 /* two */), (3);"
    with pytest.raises(SourceError, match="expected ',' or '\\)' after a value") as info:
        read_rows(sql_file(data))
    assert info.value.offset == data.index(b"/*")


def test_two_statements_two_batches(sql_file: Any) -> None:
    data = b"INSERT INTO t (a) VALUES (1),(2);\nINSERT INTO t (b) VALUES (3);\n"
    batches = read_batches(sql_file(data))
    assert [(b.columns, b.rows) for b in batches] == [(("a",), [(1,), (2,)]), (("b",), [(3,)])]
    assert [b.offsets for b in batches] == [[25, 29], [59]]
    assert [b.end for b in batches] == [
        ReadPosition(offset=33, rows=2),
        ReadPosition(offset=63, rows=3),
    ]


def test_empty_and_comment_only_files(sql_file: Any) -> None:
    assert read_batches(sql_file(b"")) == []
    assert read_batches(sql_file(b"/*!40101 SET NAMES binary*/;\n\n-- x\n")) == []


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset", "message"),
    [
        (b"INSERT INTO t VALUES (1,'abc", 24, "unterminated string literal"),
        (b"INSERT INTO t VALUES (1,'abc\\'", 24, "unterminated string literal"),
        (b"INSERT INTO t VALUES (1,2;", 25, "expected ',' or ')' after a value"),
        (b"INSERT INTO t VALUES (1 2);", 24, "expected ',' or ')' after a value"),
        (b"INSERT INTO t VALUES (1),x(2);", 25, "expected '(' to start a row tuple"),
        (b"INSERT INTO t VALUES (1) (2);", 25, "expected ',' or ';' after a row tuple"),
        (b"INSERT INTO t VALUES (1),(2)\nINSERT INTO t VALUES (3);", 29, "expected ',' or ';'"),
        (b"INSERT INTO t VALUES (1),(2)", 28, "file ends inside an INSERT statement"),
        (b"INSERT INTO t VALUES (1),", 25, "file ends inside an INSERT statement"),
        (b"INSERT INTO t VALUES (1,", 24, "file ends inside an INSERT statement"),
        (b"INSERT INTO t VALUES (1,abc);", 24, "invalid value"),
        (b"INSERT INTO t VALUES (1,X'1');", 24, "invalid literal"),
        (b"INSERT INTO t VALUES (1,0b102);", 28, "expected ',' or ')'"),
        (b"INSERT INTO t VALUES (NULLX);", 26, "expected ',' or ')' after a value"),
        (b"INSERT INTO t VALUES (1,);", 24, "invalid value"),
        (b"INSERT INTO t VALUES ;", 21, "expected '(' to start a row tuple"),
        (b"SET x=1;\nINSERT INTO t SELECT * FROM u;", 9, "unsupported INSERT/REPLACE"),
        (b"SET x=1;\nREPLACE INTO t SET a=1;", 9, "unsupported INSERT/REPLACE"),
        (b"SET x='abc;\n", 6, "unterminated string literal"),
        (b"SET x=1;\nSET @`t = 1;", 14, "unterminated quoted identifier"),
        (b"SET x=1; /* never closed;", 9, "unterminated comment"),
        (b"SET x=1;\nCOMMIT", 9, "not terminated by ';'"),
    ],
)
@pytest.mark.parametrize("raw_sql", [False, True], ids=["values", "raw"])
def test_errors_point_at_the_problem(
    sql_file: Any, data: bytes, offset: int, message: str, raw_sql: bool
) -> None:
    path = sql_file(data)
    with pytest.raises(SourceError, match=re.escape(message)) as info:
        read_batches(path, raw_sql=raw_sql)
    assert info.value.offset == offset
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{offset}: ")


def test_error_offsets_are_file_offsets_deep_in_a_big_file(
    sql_file: Any, tiny_blocks: None
) -> None:
    good = b"INSERT INTO t VALUES " + b",".join(b"(%d,'x')" % i for i in range(2000)) + b";\n"
    data = good * 3 + b"INSERT INTO t VALUES (1,'x'),(2 'y');\n"
    with pytest.raises(SourceError, match="expected ',' or '\\)'") as info:
        read_rows(sql_file(data))
    assert info.value.offset == len(good) * 3 + data[len(good) * 3 :].index(b"'y'")
    assert info.value.excerpt.startswith(b"'y')")


def test_rows_before_an_error_are_delivered(sql_file: Any) -> None:
    chunk = Chunk(
        file=source_file(sql_file(b"INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2")), index=0
    )
    reader = SqlReader(chunk=chunk, mydumper=MydumperConfig(), sql_mode="")
    batches = reader.batches()
    assert next(batches).rows == [(1,)]
    with pytest.raises(SourceError):
        next(batches)
    reader.close()


# ---------------------------------------------------------------------------------------------
# Batches, resume and chunk ends
# ---------------------------------------------------------------------------------------------


def mixed_rows(n: int) -> list[tuple[Value, ...]]:
    out: list[tuple[Value, ...]] = []
    for i in range(n):
        out.append(
            (
                i,
                -i * 7919,
                b"name-%d" % i,
                Decimal(i) / 4,
                None if i % 5 == 0 else b'it\'s \\ "%d"\n' % i,
                b"" if i % 7 == 0 else b"\xff\x00" * (i % 3),
            )
        )
    return out


def test_batches_are_cut_by_rows_and_statements(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    rows = mixed_rows(250)
    write_sql_dump(str(path), "t", ["a", "b", "c", "d", "e", "f"], rows, rows_per_statement=100)
    batches = read_batches(path, batch_rows=30)
    assert [len(b.rows) for b in batches] == [30, 30, 30, 10] * 2 + [30, 20]
    assert [row for b in batches for row in b.rows] == rows
    assert [b.end.mid_statement for b in batches] == [True, True, True, False] * 2 + [True, False]
    assert all(b.columns == ("a", "b", "c", "d", "e", "f") for b in batches)
    data = path.read_bytes()
    for batch in batches:
        assert all(data[offset : offset + 1] == b"(" for offset in batch.offsets)
        if batch.end.mid_statement:
            assert data[batch.end.offset - 1 : batch.end.offset] == b")"
            assert batch.end.columns == batch.columns
        else:
            assert data[batch.end.offset - 1 : batch.end.offset] == b";"


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_resume_from_every_batch_end(tmp_path: Path, compression: str | None) -> None:
    path = tmp_path / "t.sql"
    rows = mixed_rows(200)
    write_sql_dump(
        str(path),
        "t",
        ["a", "b", "c", "d", "e", "f"],
        rows,
        rows_per_statement=45,
        compression=compression,
    )
    batches = read_batches(path, batch_rows=16, compression=compression)
    assert [row for b in batches for row in b.rows] == rows
    for index, batch in enumerate(batches):
        resumed = read_batches(path, start=batch.end, batch_rows=16, compression=compression)
        assert [row for b in resumed for row in b.rows] == rows[batch.end.rows :]
        later = batches[index + 1 :]
        assert [b.offsets for b in resumed][:1] == [b.offsets for b in later][:1]
        assert [b.end.rows for b in resumed] == [
            b.end.rows
            for b in read_batches(path, start=batch.end, compression=compression, batch_rows=16)
        ]
        assert (resumed[-1].end if resumed else batch.end) == batches[-1].end


def test_resume_mid_statement_with_whitespace_before_the_comma(sql_file: Any) -> None:
    path = sql_file(b"INSERT INTO t (a) VALUES (1) ,\n (2)\n ;")
    start = ReadPosition(offset=29, rows=1, columns=("a",), mid_statement=True)
    batches = read_batches(path, start=start)
    assert [(b.columns, b.rows, b.end) for b in batches] == [
        (("a",), [(2,)], ReadPosition(offset=38, rows=2))
    ]
    last = ReadPosition(offset=35, rows=2, columns=("a",), mid_statement=True)
    assert read_batches(path, start=last) == []


def test_chunk_end_finishes_the_statement_it_is_in(sql_file: Any) -> None:
    one = b"INSERT INTO t VALUES (1),(2);\n"
    two = b"INSERT INTO t VALUES (3);\n"
    path = sql_file(one + two)
    assert read_rows(path, end=5) == [(1,), (2,)]
    assert read_rows(path, end=len(one)) == [(1,), (2,)]
    assert read_rows(path, end=len(one) + 1) == [(1,), (2,), (3,)]
    assert read_rows(path, offset=len(one)) == [(3,)]
    assert read_rows(path, offset=len(one) - 1) == [(3,)]
    assert read_rows(path, offset=len(one), end=len(one) + len(two)) == [(3,)]


def test_chunks_cut_at_statement_ends_cover_every_row_once(tmp_path: Path) -> None:
    path = tmp_path / "t.sql"
    rows = mixed_rows(300)
    write_sql_dump(str(path), "t", None, rows, rows_per_statement=7)
    ends = list(statement_ends(str(path), None, ""))
    cuts = [0, *ends[5::9], os.path.getsize(path)]
    got = []
    for begin, end in itertools.pairwise(cuts):
        got += read_rows(path, offset=begin, end=end)
    assert got == rows


def test_reader_is_a_source_reader_and_registered(sql_file: Any) -> None:
    from lightning_core.builtin.readers import _sql_reader

    chunk = Chunk(file=source_file(sql_file(b"INSERT INTO t VALUES (1);")), index=0)
    reader = _sql_reader(chunk=chunk, mydumper=MydumperConfig(), sql_mode="")
    assert isinstance(reader, SourceReader)
    assert [b.rows for b in reader.batches()] == [[(1,)]]
    reader.close()
    reader.close()


def test_tokens_cut_by_block_boundaries(tmp_path: Path, tiny_blocks: None) -> None:
    path = tmp_path / "t.sql"
    rows = mixed_rows(120)
    write_sql_dump(str(path), "t", ["a", "b", "c", "d", "e", "f"], rows, rows_per_statement=13)
    path.write_bytes(path.read_bytes() + SKIPPED)
    assert read_rows(path) == [*rows, (1,), (2,)]


def test_batch_bytes_bound_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_reader, "BATCH_BYTES", 1000)
    path = tmp_path / "t.sql"
    rows = [(i, b"x" * 300) for i in range(20)]
    write_sql_dump(str(path), "t", None, rows, rows_per_statement=20)
    batches = read_batches(path)
    assert [row for b in batches for row in b.rows] == rows
    assert max(len(b.rows) for b in batches) <= 5
    assert len(batches) >= 4


# ---------------------------------------------------------------------------------------------
# statement_ends
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [None, "gz"])
def test_statement_ends(tmp_path: Path, compression: str | None) -> None:
    data = SKIPPED.replace(b"--\n-- trailing comment without newline", b"")
    path = tmp_path / "t.sql"
    if compression == "gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    ends = list(statement_ends(str(path), compression, ""))
    assert all(data[e - 1 : e] == b";" for e in ends)
    assert len(ends) == 14
    assert data.index(b"INSERT INTO t VALUES (1);") + 25 in ends
    assert ends[-1] == len(data.rstrip())


def test_statement_ends_respects_no_backslash_escapes(sql_file: Any) -> None:
    path = sql_file(b"SET a='x\\';SET b=';';")
    assert list(statement_ends(str(path), None, NBE)) == [11, 21]
    # With backslash escapes, 'x\';SET b=' is one string and the last quote never closes.
    assert list(statement_ends(str(path), None, "")) == [19]


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------

values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.binary(max_size=24),
    st.sampled_from([b"'", b"\\", b"''", b"\\'", b"\n", b"\x00", b"\xff", b"NULL", b"", b"\\%"]),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**15), max_value=10**15
    ),
)
rows_strategy = st.integers(min_value=1, max_value=5).flatmap(
    lambda width: st.lists(st.tuples(*[values] * width), min_size=1, max_size=40)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=rows_strategy,
    nbe=st.booleans(),
    compression=st.sampled_from([None, "gz"]),
    per_statement=st.integers(min_value=1, max_value=9),
    batch_rows=st.integers(min_value=1, max_value=50),
)
def test_write_then_read_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Value, ...]],
    nbe: bool,
    compression: str | None,
    per_statement: int,
    batch_rows: int,
) -> None:
    path = tmp_path_factory.mktemp("rt") / "t.sql"
    columns = [f"c{i}" for i in range(len(rows[0]))]
    write_sql_dump(
        str(path),
        "t",
        columns,
        rows,
        rows_per_statement=per_statement,
        no_backslash_escapes=nbe,
        compression=compression,
    )
    mode = NBE if nbe else ""
    batches = read_batches(path, sql_mode=mode, compression=compression, batch_rows=batch_rows)
    assert [row for b in batches for row in b.rows] == rows
    assert all(b.columns == tuple(columns) for b in batches)
    # Batches end at statement ends the splitter finds too (consecutive statements of one
    # column list share batches), the last one at the file's last statement.
    reader_ends = [b.end.offset for b in batches if not b.end.mid_statement]
    header_ends = [28, 65]  # the two SET statements of the header
    ends = list(statement_ends(str(path), compression, mode))
    assert ends[:2] == header_ends and set(reader_ends) <= set(ends[2:])
    assert reader_ends[-1] == ends[-1]
    # Resuming at any batch end yields exactly the remaining rows.
    for batch in batches[:: max(1, len(batches) // 3)]:
        rest = read_batches(path, sql_mode=mode, compression=compression, start=batch.end)
        assert [row for b in rest for row in b.rows] == rows[batch.end.rows :]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows_strategy, nbe=st.booleans())
def test_round_trip_with_tiny_blocks(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[Value, ...]],
    nbe: bool,
) -> None:
    monkeypatch.setattr(sql_reader, "_MIN_BLOCK", 5)
    path = tmp_path_factory.mktemp("tb") / "t.sql"
    write_sql_dump(str(path), "t", None, rows, rows_per_statement=4, no_backslash_escapes=nbe)
    assert read_rows(path, sql_mode=NBE if nbe else "") == rows


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=80), nbe=st.booleans())
def test_arbitrary_input_never_hangs_or_crashes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, nbe: bool
) -> None:
    path = tmp_path_factory.mktemp("fz") / "t.sql"
    path.write_bytes(b"INSERT INTO t VALUES (" + data)
    try:
        read_rows(path, sql_mode=NBE if nbe else "")
    except SourceError as exc:
        assert 0 <= exc.offset <= len(data) + 22
    list(statement_ends(str(path), None, NBE if nbe else ""))


# ---------------------------------------------------------------------------------------------
# A dump written by the real mydumper
# ---------------------------------------------------------------------------------------------


MYDUMPER_ROWS: Sequence[tuple[Any, ...]] = [
    (1, "plain", b"plain", 1, Decimal("1.50"), "2021-03-04 05:06:07"),
    (2, 'it\'s "quoted"', b'it\'s "quoted"', -2, Decimal("-0.01"), None),
    (3, "back\\slash\nnew\rline\ttab", b"\\\n\r\t\x1a", None, None, "1999-12-31 23:59:59"),
    (4, "ünïcödé ☃ 𝄞", b"\x00\x01\xff\xfe\x80'\\", 2**40, Decimal("12345678901234.5678"), None),
    (5, "", b"", 0, Decimal("0.00"), None),
    (6, None, None, None, None, None),
    (7, "semi;colon -- not a comment /* nor */ # this", b"%_\\%\\_", 7, Decimal("7"), None),
]


def test_reads_a_dump_written_by_mydumper(
    tmp_path: Path, target_connection: Any, fresh_database: str
) -> None:
    with target_connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{fresh_database}`.`t` (id INT PRIMARY KEY, txt VARCHAR(100) "
            "CHARACTER SET utf8mb4, bin VARBINARY(100), n BIGINT, d DECIMAL(20,4), "
            "ts DATETIME NULL)"
        )
        cur.executemany(
            f"INSERT INTO `{fresh_database}`.`t` VALUES (%s,%s,%s,%s,%s,%s)", MYDUMPER_ROWS
        )
        cur.execute("SET NAMES binary")
        cur.execute(f"SELECT id, txt, bin, n, d, ts FROM `{fresh_database}`.`t` ORDER BY id")
        expected = cur.fetchall()
        cur.execute("SET NAMES utf8mb4")
    out = tmp_path / "dump"
    done = subprocess.run(
        ["mydumper", "-h", "127.0.0.1", "-u", "root", "-B", fresh_database, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data_files = sorted(
        p
        for p in out.iterdir()
        if p.name.startswith(f"{fresh_database}.t.") and not p.name.endswith("-schema.sql")
    )
    assert data_files, sorted(p.name for p in out.iterdir())
    rows = [row for path in data_files for row in read_rows(path)]

    # mydumper writes numbers unquoted and everything else as binary-safe quoted strings.
    def as_dumped(value: Any) -> Any:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, datetime.datetime):
            return str(value).encode()
        return value

    assert rows == [tuple(as_dumped(v) for v in row) for row in expected]
    for path in data_files:
        ends = list(statement_ends(str(path), None, ""))
        assert ends and ends[-1] == len(path.read_bytes().rstrip())


# ---------------------------------------------------------------------------------------------
# raw_sql: row texts instead of values
# ---------------------------------------------------------------------------------------------


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=rows_strategy,
    nbe=st.booleans(),
    per_statement=st.integers(min_value=1, max_value=9),
    batch_rows=st.integers(min_value=1, max_value=50),
)
def test_raw_sql_yields_the_source_text_of_each_row(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[tuple[Value, ...]],
    nbe: bool,
    per_statement: int,
    batch_rows: int,
) -> None:
    path = tmp_path_factory.mktemp("raw") / "t.sql"
    write_sql_dump(
        str(path), "t", None, rows, rows_per_statement=per_statement, no_backslash_escapes=nbe
    )
    mode = NBE if nbe else ""
    raw = read_batches(path, sql_mode=mode, batch_rows=batch_rows, raw_sql=True)
    parsed = read_batches(path, sql_mode=mode, batch_rows=batch_rows)
    assert all(b.rows == [] and b.texts is not None for b in raw)
    texts = [text for b in raw for text in b.texts or []]
    assert texts == [format_row(row, no_backslash_escapes=nbe) for row in rows]
    assert [(b.offsets, b.end, b.columns) for b in raw] == [
        (b.offsets, b.end, b.columns) for b in parsed
    ]
    data = path.read_bytes()
    for batch in raw:
        for offset, text in zip(batch.offsets, batch.texts or [], strict=True):
            assert data[offset : offset + len(text)] == text
        resumed = read_batches(path, sql_mode=mode, start=batch.end, raw_sql=True)
        assert [t for b in resumed for t in b.texts or []] == texts[batch.end.rows :]


def test_raw_sql_keeps_literals_as_written(sql_file: Any, tiny_blocks: None) -> None:
    row = b"(1,_binary 'a\\'' 'b',0x1F,b'101',NULL,-1.5e3,\"dq\")"
    data = b"INSERT INTO t (a) VALUES " + b",\n".join([row] * 6) + b";"
    batches = read_batches(sql_file(data), raw_sql=True)
    assert [t for b in batches for t in b.texts or []] == [row] * 6
    assert sum(b.count for b in batches) == 6


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gz"])
def test_every_column_type_survives_mydumper_reader_and_sqltext(
    tmp_path: Path, target_connection: Any, fresh_database: str, compress: bool
) -> None:
    """mydumper → SqlReader → format_row → server gives back the same table, checksum equal.

    Every MySQL column type, maxima, minima, zero dates, NULLs and awkward bytes; the file
    is read in chunks cut at statement_ends offsets (one chunk when compressed).
    """
    from lightning_core.testing.mydumper import (
        ALL_TYPES_TABLE,
        FILL_SQL_MODE,
        all_types_ddl,
        fill_all_types,
        run_mydumper,
        table_checksum,
    )

    fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=400, seed=11)
    files = run_mydumper(fresh_database, str(tmp_path / "dump"), compress=compress)
    suffix = ".sql.gz" if compress else ".sql"
    data_files = [
        f
        for f in files
        if os.path.basename(f).startswith(f"{fresh_database}.{ALL_TYPES_TABLE}.")
        and f.endswith(suffix)
        and "-schema" not in f
    ]
    assert data_files, files
    compression = "gz" if compress else None
    rows: list[tuple[Value, ...]] = []
    for path in data_files:
        size = os.path.getsize(path)
        ends = list(statement_ends(path, compression, ""))
        cuts = [0, size] if compress else [0, *ends[1::2], size]
        for begin, end in itertools.pairwise(cuts):
            rows += read_rows(path, compression=compression, offset=begin, end=end)
    assert len(rows) == 400
    with target_connection.cursor() as cur:
        cur.execute("SET SESSION sql_mode = %s, time_zone = '+00:00'", (FILL_SQL_MODE,))
        cur.execute(f"USE `{fresh_database}`")
        cur.execute(all_types_ddl("copy"))
        for k in range(0, len(rows), 50):
            values = b",".join(format_row(row) for row in rows[k : k + 50])
            cur.execute(b"INSERT INTO `copy` VALUES " + values)
        cur.execute("SHOW WARNINGS")
        assert cur.fetchall() == ()
    assert table_checksum(target_connection, fresh_database, "copy") == table_checksum(
        target_connection, fresh_database, ALL_TYPES_TABLE
    )


# Rows that look like row boundaries, escapes and comments: the raw scan that cuts rows at
# "),\n(" must give exactly what the careful path gives, or leave the rows to it.
TRICKY_ROWS = [
    b"(1,'a),\n(b')",
    b"(2,\"x'),\n('y\")",
    b"(3,'semi;colon','paren(s)')",
    b"(4,'esc\\'aped','back\\\\','\\\\\\'')",
    b"(5,'',\"\",'''doubled''')",
    b"(6,NULL,\\N,-1.5e-3,0x1F)",
    b"(7,_binary 'bin',x'00',b'1')",
    b"(8,'slash/hash#tick`dash--','nul\\0')",
    b'(9,\'line\\nbreak\',"dq\\"x")',
]


@pytest.mark.parametrize("nbe", [False, True], ids=["escapes", "nbe"])
@pytest.mark.parametrize("separator", [b",\n", b",", b" , "])
@pytest.mark.parametrize("repeat", [1, 50])
def test_raw_sql_cuts_tricky_rows_like_the_careful_path(
    sql_file: Any, nbe: bool, separator: bytes, repeat: int
) -> None:
    rows = [r for r in TRICKY_ROWS if not nbe or (b"\\'" not in r and b'\\"' not in r)]
    data = b"".join(
        b"INSERT INTO t VALUES\n" + separator.join([b"(0)", *[row] * repeat, b"(0)"]) + b";\n"
        for row in [*rows, b"(" + b"".join(rows)[1:-1].replace(b")(", b",") + b")"]
    )
    mode = NBE if nbe else ""
    raw = read_batches(sql_file(data), sql_mode=mode, raw_sql=True, batch_rows=37)
    parsed = read_batches(sql_file(data), sql_mode=mode, batch_rows=37)
    assert [(b.offsets, b.end) for b in raw] == [(b.offsets, b.end) for b in parsed]
    texts = [t for b in raw for t in b.texts or []]
    assert texts == [
        data[o : o + len(t)] for o, t in zip(parsed_offsets(parsed), texts, strict=True)
    ]
    assert sum(b.count for b in raw) == (len(rows) + 1) * (repeat + 2)


def parsed_offsets(batches: list[RowBatch]) -> list[int]:
    return [o for b in batches for o in b.offsets]


@pytest.mark.parametrize(
    ("row", "cut"),
    [
        (b"(1,'a','b')", True),
        (b"(1,\"a\",NULL,\\N,-1.5e-3,0x1F,_binary 'x')", False),  # two quote kinds
        (b"(3,'paren(s)','/#`--')", True),
        (b"(3,'semi;colon')", False),  # the run stops at the first ';'
        (b"(4,'esc\\'aped','back\\\\','\\\\\\'','\\0')", True),
        (b"(5,'a),\n(b')", False),
        (b"(6,/* c */ 1)", False),
        (b"(7,(1))", False),
        (b"(8,2+3)", False),  # an expression
        (b"(9,a)", False),  # a column reference
        (b"(10,-1,+2.5,NULL,\\N,0x1F,_binary 'x',-1e3, ' ' )", True),
    ],
)
def test_raw_sql_scan_cuts_plain_runs_and_refuses_doubtful_ones(row: bytes, cut: bool) -> None:
    grammar = sql_grammar.grammar_for("")
    buf = b"(0)," + b",\n".join([row] * 5) + b";"
    split = sql_reader._split_rows(grammar, buf, 4, b",\n", 100)
    if not cut:
        assert split is None
        return
    assert split is not None
    assert split[0] == [row] * 4
    assert split[1] == [104 + k * (len(row) + 2) for k in range(5)]


@pytest.mark.parametrize(
    ("bad", "at"),
    [
        (b"(3 /* ),\n(4 */)", 3),
        (b"(3 # ),\n(4\n)", 3),
        (b"(3,`a),\n(b`)", 3),
        (b"(3,(4))", 3),
        (b"(3,\\'),\n('x')", 3),
        (b"(3,2+3)", 4),
    ],
)
def test_raw_sql_never_cuts_rows_at_comments_identifiers_or_stray_escapes(
    sql_file: Any, bad: bytes, at: int
) -> None:
    data = b"INSERT INTO t VALUES\n" + b",\n".join([b"(1,2)", bad, b"(5,6)"] * 40) + b";\n"
    with pytest.raises(SourceError) as info:
        read_batches(sql_file(data), raw_sql=True)
    assert info.value.offset == data.index(bad) + at
