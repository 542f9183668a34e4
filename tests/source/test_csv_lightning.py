"""CSV read as TiDB Lightning reads it: NULL strings, escaped-by, strictness, blank lines.

Each test here failed before the behaviour it names was added (issue "Read every dump as TiDB
Lightning reads it", items 2 and 3).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from lightning_core.config import CsvConfig, MydumperConfig, config_from_toml
from lightning_core.errors import ConfigError, SourceError
from lightning_core.source import csv_reader
from tests.source.test_csv_reader import _batches, _chunk, _rows

NOHEAD = CsvConfig(header=False)


@pytest.fixture
def put(tmp_path: Path):
    def put(data: bytes, name: str = "t.csv") -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return put


# -- NULL ------------------------------------------------------------------------------------


def test_quoted_empty_field_is_null_with_empty_null_string(put) -> None:
    path = put(b'"",1\n,2\n"x",3\n')
    assert _rows(path, attrs.evolve(NOHEAD, null="")) == [
        (None, b"1"),
        (None, b"2"),
        (b"x", b"3"),
    ]


def test_null_is_compared_after_unescaping(put) -> None:
    path = put(b'\\NULL,"NU\\LL",\\\\N,"\\\\N"\n')
    assert _rows(path, attrs.evolve(NOHEAD, null="NULL")) == [(None, None, b"\\N", b"\\N")]


def test_null_accepts_a_list_of_strings(put) -> None:
    path = put(b'NULL,nil,"",\\N,x\n')
    csv = attrs.evolve(NOHEAD, null=("NULL", "nil", ""))
    assert _rows(path, csv) == [(None, None, None, None, b"x")]
    assert _rows(path, attrs.evolve(csv, not_null=True)) == [(b"NULL", b"nil", b"", b"N", b"x")]


def test_empty_null_list_means_the_empty_string(put) -> None:
    path = put(b'"",NULL\n')
    assert _rows(path, attrs.evolve(NOHEAD, null=())) == [(None, b"NULL")]


def test_toml_null_takes_a_string_or_a_list() -> None:
    one = config_from_toml('[mydumper.csv]\nnull = "NULL"\n')
    assert one.mydumper.csv.null == ("NULL",)
    several = config_from_toml("[mydumper.csv]\nnull = ['NULL', '\\N', '']\n")
    assert several.mydumper.csv.null == ("NULL", "\\N", "")
    with pytest.raises(ConfigError, match="null"):
        config_from_toml("[mydumper.csv]\nnull = 3\n")


# -- escaped-by ------------------------------------------------------------------------------


def test_escaped_by_any_one_character(put) -> None:
    path = put(b'a|,b,"c|"d",|N,"|N",||N,|t\\n\n')
    csv = attrs.evolve(NOHEAD, escaped_by="|")
    assert _rows(path, csv) == [(b"a,b", b'c"d', None, None, b"|N", b"\t\\n")]
    # the backslash is an ordinary byte then, and backslash-escape = false keeps "|"
    assert _rows(path, attrs.evolve(csv, backslash_escape=False)) == _rows(path, csv)


def test_escaped_by_from_toml_and_validation() -> None:
    config = config_from_toml("[mydumper.csv]\nescaped-by = '|'\n")
    assert config.mydumper.csv.escape() == "|"
    assert (
        config_from_toml("[mydumper.csv]\nbackslash-escape = false\n").mydumper.csv.escape() == ""
    )
    assert config_from_toml("[mydumper.csv]\nescaped-by = ''\n").mydumper.csv.escape() == "\\"
    with pytest.raises(ConfigError, match="escaped-by = '::'"):
        config_from_toml("[mydumper.csv]\nescaped-by = '::'\n")
    with pytest.raises(ConfigError, match="escaped-by must not appear in the separator"):
        config_from_toml("[mydumper.csv]\nescaped-by = ','\n")


def test_escaped_by_other_than_backslash_uses_the_general_parser() -> None:
    assert csv_reader._Dialect(attrs.evolve(NOHEAD, escaped_by="|")).fast is None
    assert csv_reader._Dialect(NOHEAD).fast is not None


# -- strictness ------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 7, 64 * 1024])
@pytest.mark.parametrize("csv", [NOHEAD, CsvConfig(header=False, delimiter="<q>")], ids=repr)
def test_quote_inside_an_unquoted_field_is_a_syntax_error(put, block, csv) -> None:
    q = csv.delimiter.encode()
    data = b'1,"ok"\n2,ab' + q + b"c\n3,x\n"
    path = put(data)
    with pytest.raises(SourceError, match="delimiter \\(quote\\) inside an unquoted field") as info:
        _rows(path, csv, block=block)
    assert info.value.offset == data.index(b"ab") + 2
    assert str(info.value).startswith(f"{path}:{info.value.offset}: ")


def test_rows_before_the_stray_quote_are_read(put) -> None:
    path = put(b"1,a\n" * 5000 + b'2,a"b\n')
    batches = []
    with pytest.raises(SourceError):
        for batch in csv_reader.CsvReader(
            chunk=_chunk(path),
            mydumper=MydumperConfig(csv=NOHEAD),
            sql_mode="",
        ).batches():
            batches.append(batch)
    assert sum(len(b.rows) for b in batches) == 4096  # whole batches come before the error


@pytest.mark.parametrize("block", [1, 2, 7, 64 * 1024])
def test_whitespace_lines_are_skipped_not_rows_nor_header(put, block) -> None:
    data = b'  \n\t\r\na,b\n \t \n1,2\n   \n" ",3\n \\ \n'
    batches = _batches(put(data), CsvConfig(), block=block)
    assert batches[0].columns == ("a", "b")
    assert [r for b in batches for r in b.rows] == [(b"1", b"2"), (b" ", b"3"), (b"  ",)]
    assert [o for b in batches for o in b.offsets] == [
        data.index(b"1,2"),
        data.index(b'" "'),
        data.index(b" \\ "),
    ]


def test_whitespace_separator_lines_are_records(put) -> None:
    assert _rows(put(b"\t\n"), attrs.evolve(NOHEAD, separator="\t")) == [(b"", b"")]
