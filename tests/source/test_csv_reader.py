"""CsvReader: every [mydumper.csv] option, offsets, resume, chunk splits, errors, round trips."""

from __future__ import annotations

import os

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_core.config import CsvConfig, MydumperConfig
from lightning_core.errors import ConfigError, SourceError
from lightning_core.interfaces import Chunk, FileKind, ReadPosition, RowBatch, SourceFile, Value
from lightning_core.interfaces import SourceReader as SourceReaderProtocol
from lightning_core.source import csv_reader
from lightning_core.source.csv_reader import CsvReader, read_header
from lightning_core.testing.csvdump import write_csv

Rows = list[tuple[Value, ...]]


def _chunk(
    path: str,
    *,
    offset: int = 0,
    end: int | None = None,
    columns: tuple[str, ...] | None = None,
    compression: str | None = None,
) -> Chunk:
    file = SourceFile(
        path=path,
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format="csv",
        compression=compression,
        size=os.path.getsize(path),
    )
    return Chunk(file=file, index=0 if offset == 0 else 1, offset=offset, end=end, columns=columns)


def _batches(
    path: str,
    csv: CsvConfig,
    *,
    start: ReadPosition | None = None,
    block: int = 64 * 1024,
    **chunk_args: object,
) -> list[RowBatch]:
    reader = CsvReader(
        chunk=_chunk(path, **chunk_args),  # type: ignore[arg-type]
        mydumper=MydumperConfig(csv=csv, read_block_size=block),
        sql_mode="",
        start=start,
    )
    try:
        return list(reader.batches())
    finally:
        reader.close()


def _rows(path: str, csv: CsvConfig, **kwargs: object) -> Rows:
    return [row for batch in _batches(path, csv, **kwargs) for row in batch.rows]  # type: ignore[arg-type]


@pytest.fixture
def put(tmp_path):
    """Write bytes to a file and return its path."""

    def put(data: bytes, name: str = "t.csv") -> str:
        path = str(tmp_path / name)
        with open(path, "wb") as out:
            out.write(data)
        return path

    return put


NOHEAD = CsvConfig(header=False)


def test_is_a_source_reader(put):
    reader = CsvReader(chunk=_chunk(put(b"1\n")), mydumper=MydumperConfig(), sql_mode="")
    assert isinstance(reader, SourceReaderProtocol)
    reader.close()


# -- options, one by one ---------------------------------------------------------------------


def test_defaults_quoting_null_and_escapes(put):
    path = put(b'a,b,c\n1,"x,y",\\N\n2,"q""r","\\N"\n3,\\t\\0\\Z\\b\\r\\n\\\\\\"\\,,\\x\n')
    batch = _batches(path, CsvConfig())[0]
    assert batch.columns == ("a", "b", "c")
    assert batch.rows == [
        (b"1", b"x,y", None),
        (b"2", b'q"r', None),
        (b"3", b'\t\x00\x1a\x08\r\n\\",', b"x"),
    ]
    assert batch.offsets == [6, 17, 31]


@pytest.mark.parametrize(
    "separator", [",", "\t", "|", ";", "||", "<sep>", "\u00a6"], ids=lambda s: repr(s)
)
def test_separators(put, separator):
    sep = separator.encode()
    path = put(sep.join([b"1", b'"a' + sep + b'b"', b"c"]) + b"\n" + sep.join([b"2", b"", b""]))
    rows = _rows(path, CsvConfig(separator=separator, header=False))
    assert rows == [(b"1", b"a" + sep + b"b", b"c"), (b"2", b"", b"")]


@pytest.mark.parametrize("delimiter", ['"', "'", "~", "''", "<q>"], ids=repr)
def test_delimiters(put, delimiter):
    d = delimiter.encode()
    path = put(d + b"a," + d + d + b"\nb" + d + b",xy\n" + d + d + b",\n")
    rows = _rows(path, CsvConfig(delimiter=delimiter, header=False, backslash_escape=False))
    assert rows == [(b"a," + d + b"\nb", b"xy"), (b"", b"")]
    # a delimiter inside an unquoted field: tests/source/test_csv_lightning.py


def test_empty_delimiter_means_no_quoting(put):
    path = put(b'"a,b",c"d\n')
    assert _rows(path, CsvConfig(delimiter="", header=False)) == [(b'"a', b'b"', b'c"d')]


@pytest.mark.parametrize(
    ("terminator", "data", "expected"),
    [
        ("", b"1,a\n2,b\r\n3,c\r4,d", [(b"1", b"a"), (b"2", b"b"), (b"3", b"c"), (b"4", b"d")]),
        ("\n", b"1,a\r\n2,b\n", [(b"1", b"a\r"), (b"2", b"b")]),
        ("\r\n", b"1,a\n2\r\n3,b\r\n", [(b"1", b"a\n2"), (b"3", b"b")]),
        ("|", b"1,a\n|2,b|", [(b"1", b"a\n"), (b"2", b"b")]),
        ("|\n", b"1,a|b\n|\n2,|\n", [(b"1", b"a|b\n"), (b"2", b"")]),
        ("<END>", b"1,<EN<END>2,x<END>", [(b"1", b"<EN"), (b"2", b"x")]),
    ],
    ids=repr,
)
def test_terminators(put, terminator, data, expected):
    csv = CsvConfig(terminator=terminator, header=False)
    assert _rows(put(data), csv) == expected


def test_crlf_offsets(put):
    path = put(b'h\r\n1,"a\r\nb"\r\n2,c\r\n')
    batch = _batches(path, CsvConfig())[0]
    assert batch.columns == ("h",)
    assert batch.rows == [(b"1", b"a\r\nb"), (b"2", b"c")]
    assert batch.offsets == [3, 13]
    assert batch.end.offset == len(b'h\r\n1,"a\r\nb"\r\n2,c\r\n')


def test_header_false_has_no_columns(put):
    path = put(b"a,b\n1,2\n")
    batch = _batches(path, NOHEAD)[0]
    assert batch.columns is None
    assert batch.rows == [(b"a", b"b"), (b"1", b"2")]


def test_header_schema_match_false_skips_header(put):
    path = put(b"a,b\n1,2\n")
    batch = _batches(path, CsvConfig(header_schema_match=False))[0]
    assert batch.columns is None
    assert batch.rows == [(b"1", b"2")]
    assert batch.offsets == [4]


def test_header_with_quotes_and_escapes(put):
    path = put(b'"id","na,me",`x`\\t\n1,2,3\n')
    assert _batches(path, CsvConfig())[0].columns == ("id", "na,me", "`x`\t")
    assert read_header(path, None, MydumperConfig()) == ("id", "na,me", "`x`\t")


def test_later_chunk_uses_chunk_columns(put):
    path = put(b"a,b\n1,2\n3,4\n")
    batch = _batches(path, CsvConfig(), offset=8, columns=("a", "b"))[0]
    assert batch.columns == ("a", "b")
    assert batch.rows == [(b"3", b"4")]
    assert batch.offsets == [8]


@pytest.mark.parametrize("null", ["\\N", "NULL", "", "nil"])
def test_null_string(put, null):
    n = null.encode()
    path = put(b"1," + n + b',"' + n + b'"\n')
    # quoted or not, as TiDB Lightning (LOAD DATA would read the quoted one as text)
    assert _rows(path, CsvConfig(null=null, header=False)) == [(b"1", None, None)]
    off = CsvConfig(null=null, header=False, backslash_escape=False)
    assert _rows(path, off) == [(b"1", None, None)]


def test_backslash_n_is_null_with_escape_whatever_the_null_string(put):
    path = put(b'\\N,NULL,"\\N","NULL",\\NN,"\\\\N"\n')
    assert _rows(path, CsvConfig(null="NULL", header=False)) == [
        (None, None, None, None, b"NN", b"\\N")
    ]
    off = CsvConfig(null="NULL", header=False, backslash_escape=False)
    assert _rows(path, off) == [(b"\\N", None, b"\\N", None, b"\\NN", b"\\\\N")]


def test_not_null(put):
    path = put(b'\\N,NULL,""\n')
    assert _rows(path, CsvConfig(not_null=True, null="NULL", header=False)) == [
        (b"N", b"NULL", b"")
    ]


def test_backslash_escape_off_keeps_backslashes(put):
    path = put(b'a\\,b,"c\\"\n')
    assert _rows(path, CsvConfig(backslash_escape=False, header=False)) == [(b"a\\", b"b", b"c\\")]


def test_escaped_separator_and_newline_unquoted(put):
    path = put(b"a\\,b,c\\\nd\n")
    assert _rows(path, NOHEAD) == [(b"a,b", b"c\nd")]


def test_trim_last_separator(put):
    path = put(b'1,2,\n3,"",\n4,\n,\n5,""\nA,,B,,\n6,"",,\n,,,\n7,\\,\n')
    csv = CsvConfig(trim_last_separator=True, header=False)
    assert _rows(path, csv) == [
        (b"1", b"2"),
        (b"3", b""),
        (b"4",),
        (b"",),
        (b"5", b""),
        (b"A", b"", b"B", b""),  # only the last empty value goes, as in TiDB Lightning
        (b"6", b"", b""),
        (b"", b"", b""),
        (b"7", b","),
    ]
    multi = put(b"1||2||||\n", "m.csv")
    assert _rows(multi, attrs.evolve(csv, separator="||")) == [(b"1", b"2", b"")]


def test_empty_lines_skipped_and_field_count_kept(put):
    path = put(b"\n1,2\n\r\n\n3\n4,5,6\n\n")
    batch = _batches(path, NOHEAD)[0]
    assert batch.rows == [(b"1", b"2"), (b"3",), (b"4", b"5", b"6")]
    assert batch.offsets == [1, 8, 10]


def test_last_record_without_terminator(put):
    assert _rows(put(b'1,2\n3,"4"'), NOHEAD) == [(b"1", b"2"), (b"3", b"4")]
    assert _rows(put(b"1,2\n3,", "b.csv"), NOHEAD) == [(b"1", b"2"), (b"3", b"")]


def test_non_utf8_and_nul_bytes(put):
    data = b'\xff\x00,"\x85\x1c\x0b\x0c\xe9"\n'
    assert _rows(put(data), NOHEAD) == [(b"\xff\x00", b"\x85\x1c\x0b\x0c\xe9")]


def test_huge_field_beyond_csv_module_limit(put):
    big = b"x" * 300_000
    path = put(b'1,"' + big + b'"\n2,' + big + b"\n3,y\n")
    assert _rows(path, NOHEAD, block=4096) == [(b"1", big), (b"2", big), (b"3", b"y")]


def test_records_longer_than_the_block(put):
    big = b"y" * 100_000
    path = put(b'"' + big + b'",1\n' + big + b"\\\n,2\n3,4\n")
    rows = [(big, b"1"), (big + b"\n", b"2"), (b"3", b"4")]
    assert _rows(path, NOHEAD, block=100) == rows
    multi = put(b'"' + big + b'",,1\n' + big + b"\\\n,,2\n", "m.csv")
    assert _rows(multi, attrs.evolve(NOHEAD, separator=",,"), block=100) == rows[:2]


def test_resume_inside_compressed_file(tmp_path):
    rows = _numbered(10_000)
    path = str(tmp_path / "c.csv.gz")
    write_csv(path, ["a", "b", "c"], rows, CsvConfig(), compression="gz")
    assert read_header(path, "gz", MydumperConfig()) == ("a", "b", "c")
    first = _batches(path, CsvConfig(), compression="gz")[0]
    rest = _rows(path, CsvConfig(), compression="gz", start=first.end)
    assert rest == rows[4096:]


def test_start_at_offset_zero_reads_the_header(put):
    path = put(b"a,b\n1,2\n")
    start = ReadPosition(offset=0, rows=0, columns=None)
    assert _batches(path, CsvConfig(), start=start)[0].columns == ("a", "b")


def test_resume_without_saved_columns_rereads_the_header(put):
    path = put(b"a,b\n1,2\n3,4\n")
    batch = _batches(path, CsvConfig(), start=ReadPosition(offset=8, rows=1))[0]
    assert (batch.columns, batch.rows, batch.end.rows) == (("a", "b"), [(b"3", b"4")], 2)


def test_invalid_configs(put):
    path = put(b"1\n")
    with pytest.raises(ConfigError):
        _rows(path, CsvConfig(separator=""))
    with pytest.raises(ConfigError):
        _rows(path, CsvConfig(separator='"'))


# -- batches, resume and chunk boundaries ----------------------------------------------------


def _numbered(n: int) -> Rows:
    return [(str(i).encode(), f"v{i}\n,".encode(), None if i % 7 == 0 else b"x") for i in range(n)]


def test_batches_and_resume_from_every_batch_end(put, tmp_path):
    rows = _numbered(csv_reader.BATCH_ROWS * 2 + 123)
    path = str(tmp_path / "big.csv")
    write_csv(path, ["a", "b", "c"], rows, CsvConfig())
    batches = _batches(path, CsvConfig(), block=1000)
    assert [len(b.rows) for b in batches] == [4096, 4096, 123]
    assert [r for b in batches for r in b.rows] == rows
    for i, batch in enumerate(batches):
        assert batch.end.rows == sum(len(b.rows) for b in batches[: i + 1])
        assert batch.end.columns == ("a", "b", "c")
        rest = _rows(path, CsvConfig(), start=batch.end)
        assert rest == rows[batch.end.rows :]


def test_offsets_point_at_records(tmp_path):
    rows = _numbered(50)
    path = str(tmp_path / "o.csv")
    write_csv(path, ["a", "b", "c"], rows, CsvConfig())
    with open(path, "rb") as stream:
        data = stream.read()
    batch = _batches(path, CsvConfig())[0]
    for offset, row in zip(batch.offsets, batch.rows, strict=True):
        assert data[offset:].startswith(b'"' + row[0] + b'",')  # type: ignore[operator]


@pytest.mark.parametrize("terminator", ["", "\r\n", "||\n"], ids=repr)
def test_strict_format_chunks_cover_file_exactly_once(tmp_path, terminator):
    csv = CsvConfig(terminator=terminator)
    rows = [(str(i).encode(), b"y" * (i % 13)) for i in range(500)]
    path = str(tmp_path / "s.csv")
    write_csv(path, ["a", "b"], rows, csv)
    with open(path, "rb") as stream:
        data = stream.read()
    term = (terminator or "\n").encode()
    cuts = [0]
    position = 700
    while (hit := data.find(term, position)) >= 0 and hit + len(term) < len(data):
        cuts.append(hit + len(term))
        position = cuts[-1] + 700
    got: Rows = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else None
        batches = _batches(path, csv, offset=start, end=end, columns=("a", "b"), block=300)
        for batch in batches:
            assert batch.columns == ("a", "b")
            assert all(start <= o and (end is None or o < end) for o in batch.offsets)
        got += [r for b in batches for r in b.rows]
    assert got == rows


def test_record_starting_before_end_is_read_whole(put):
    path = put(b'1,"long\nvalue"\n2,b\n')
    assert _rows(path, NOHEAD, end=1) == [(b"1", b"long\nvalue")]
    assert _rows(path, NOHEAD, end=0) == []


# -- errors -----------------------------------------------------------------------------------


def test_unterminated_quote_at_eof(put):
    path = put(b'1,2\n3,"abc\n4,5\n')
    with pytest.raises(SourceError) as info:
        _rows(path, NOHEAD)
    assert info.value.offset == 6
    assert info.value.path == path
    assert "unterminated" in str(info.value)


def test_garbage_after_closing_delimiter(put):
    path = put(b'1,2\n3,"abc"x,4\n')
    with pytest.raises(SourceError) as info:
        _rows(path, NOHEAD)
    assert info.value.offset == 11
    assert info.value.excerpt.startswith(b"x,4")  # type: ignore[union-attr]


def test_rows_before_an_error_are_yielded_first(put, tmp_path):
    rows = _numbered(5000)
    path = str(tmp_path / "e.csv")
    write_csv(path, None, rows, NOHEAD)
    with open(path, "ab") as out:
        out.write(b'"bad"!\n')
    reader = CsvReader(chunk=_chunk(path), mydumper=MydumperConfig(csv=NOHEAD), sql_mode="")
    it = reader.batches()
    assert len(next(it).rows) == 4096
    with pytest.raises(SourceError) as info:
        next(it)
    assert info.value.offset == os.path.getsize(path) - 2


def test_lone_backslash_at_eof(put):
    with pytest.raises(SourceError, match="backslash"):
        _rows(put(b"1,ab\\"), NOHEAD)


def test_missing_file_is_a_source_error(tmp_path):
    file = SourceFile(path=str(tmp_path / "none.csv"), schema="d", table="t", kind=FileKind.DATA)
    reader = CsvReader(chunk=Chunk(file=file, index=0), mydumper=MydumperConfig(), sql_mode="")
    with pytest.raises(SourceError):
        list(reader.batches())


# -- fast and general parsers agree -----------------------------------------------------------


def _parse_all(parse, dialect: csv_reader._Dialect, data: bytes) -> object:
    out = csv_reader._Parsed()
    try:
        pos = parse(dialect, data, 0, True, 1 << 62, out)
    except SourceError as exc:  # pragma: no cover - parsers report through out.error
        return ("raised", exc.offset)
    if out.error is not None:
        return (out.rows, out.starts, "error", out.error.offset)
    return (out.rows, out.starts, out.ends, pos)


def _general(d, data, pos, at_eof, stop, out):
    return csv_reader._parse_general(d, data, pos, at_eof, stop, out, "p", 0)


def _fast(d, data, pos, at_eof, stop, out):
    return csv_reader._parse_fast(d, d.fast, data, pos, at_eof, stop, out, "p", 0)


FAST_CONFIGS = [
    CsvConfig(),
    CsvConfig(null="NULL"),
    CsvConfig(null=("NULL", "\\N", "")),
    CsvConfig(null=""),
    CsvConfig(backslash_escape=False),
    CsvConfig(delimiter="", null="NULL"),
    CsvConfig(terminator="\n", trim_last_separator=True),
    CsvConfig(terminator="\r\n", delimiter="'", separator="\t"),
    CsvConfig(not_null=True),
]


@pytest.mark.parametrize("csv", FAST_CONFIGS, ids=repr)
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.sampled_from(list(b",\"'\t \\\r\nNUL\x00\x85ab")), max_size=40).map(bytes))
def test_fast_and_general_parsers_agree(csv, data):
    dialect = csv_reader._Dialect(csv)
    assert dialect.fast is not None
    assert _parse_all(_fast, dialect, data) == _parse_all(_general, dialect, data)


@pytest.mark.parametrize("csv", FAST_CONFIGS[:3], ids=repr)
@settings(max_examples=100)
@given(data=st.lists(st.sampled_from(list(b',"\\\r\nNa')), max_size=60).map(bytes))
def test_parsers_agree_on_incomplete_buffers(csv, data):
    dialect = csv_reader._Dialect(csv)
    fast, general = csv_reader._Parsed(), csv_reader._Parsed()
    fast_pos = _fast(dialect, data, 0, False, 1 << 62, fast)
    general_pos = _general(dialect, data, 0, False, 1 << 62, general)
    assert (fast.rows, fast.starts, fast_pos, fast.error is None) == (
        general.rows,
        general.starts,
        general_pos,
        general.error is None,
    )


# -- round trips through write_csv -------------------------------------------------------------

_values = st.one_of(
    st.none(),
    st.binary(max_size=12),
    st.lists(
        st.sampled_from([b",", b'"', b"'", b"\\", b"\n", b"\r", b"\x00", b"N", b"|", b"\xff"])
    ).map(b"".join),
)


@st.composite
def _configs(draw: st.DrawFn) -> CsvConfig:
    quoted = draw(st.booleans())
    escape = draw(st.booleans()) if quoted else True
    return CsvConfig(
        separator=draw(st.sampled_from([",", "\t", "|", "||", "<->"])),
        delimiter=draw(st.sampled_from(['"', "'", "'~", "<q>"])) if quoted else "",
        terminator=draw(st.sampled_from(["", "\n", "\r\n", "|\n", "##"])),
        header=draw(st.booleans()),
        backslash_escape=escape,
        null=draw(st.sampled_from(["\\N", "NULL", "", "nil"] if quoted else ["\\N", "NULL"])),
        trim_last_separator=draw(st.booleans()),
        not_null=draw(st.booleans()),
    )


@st.composite
def _tables(draw: st.DrawFn) -> tuple[CsvConfig, list[str], Rows]:
    csv = draw(_configs())
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.tuples(*[_values] * width), max_size=12))
    columns = [f"c{i}" for i in range(width)] if csv.header else []
    if csv.not_null:
        rows = [tuple(b"" if v is None else v for v in r) for r in rows]
    # An empty unquoted field alone on a line makes an empty line, which is skipped; at the end
    # of a longer line trim-last-separator drops it. write_csv refuses both.
    # A string equal to a null string reads as NULL (write_csv refuses it), and so does a
    # blank unquoted field alone on a line (skipped).
    nulls = {n.encode() for n in csv.null_strings()} - {b"\\N"}
    rows = [tuple(None if v in nulls else v for v in r) for r in rows]
    empty: list[Value] = [None] if csv.null_strings() == ("",) else []
    if not csv.delimiter:
        empty.append(b"")
    if width == 1 and not csv.trim_last_separator:
        rows = [r for r in rows if r[0] not in empty]
        if not csv.delimiter:
            rows = [r for r in rows if not (isinstance(r[0], bytes) and r[0].isspace())]
    if width > 1 and csv.trim_last_separator:
        rows = [r for r in rows if r[-1] not in empty]
    return csv, columns, rows


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
@settings(max_examples=120, deadline=None)
@given(table=_tables(), block=st.sampled_from([1, 7, 4096]))
def test_round_trip(tmp_path_factory, compression, table, block):
    csv, columns, rows = table
    path = str(tmp_path_factory.mktemp("rt") / f"t.csv.{compression}")
    write_csv(path, columns or None, rows, csv, compression=compression)
    batches = _batches(path, csv, compression=compression, block=block)
    assert [r for b in batches for r in b.rows] == rows
    if csv.header:
        assert all(b.columns == tuple(columns) for b in batches)


def test_writer_refuses_what_cannot_round_trip(tmp_path):
    path = str(tmp_path / "w.csv")
    with pytest.raises(ValueError):
        write_csv(path, None, [(None,)], CsvConfig(header=False, not_null=True))
    with pytest.raises(ValueError):
        write_csv(
            path, None, [(b"a,b",)], CsvConfig(header=False, delimiter="", backslash_escape=False)
        )
    with pytest.raises(ValueError):
        write_csv(path, None, [(b"",)], CsvConfig(header=False, delimiter="", null=""))
    with pytest.raises(ValueError):
        write_csv(path, None, [(b"x",)], CsvConfig(header=True))
    with pytest.raises(ValueError):
        write_csv(
            path, None, [(b"x", None)], CsvConfig(header=False, null="", trim_last_separator=True)
        )


@pytest.mark.parametrize(
    "csv", [CsvConfig(), CsvConfig(separator="|+|", terminator="|\n")], ids=repr
)
def test_chunks_of_split_chunks_read_every_row_once(tmp_path, csv):
    from lightning_core.source.chunks import split_chunks
    from lightning_core.source.discovery import TablePlan

    rows = [(str(i).encode(), b"v" * (i % 50), None if i % 3 else b"x") for i in range(3000)]
    path = str(tmp_path / "db.t.csv")
    write_csv(path, ["a", "b", "c"], rows, csv)
    file = SourceFile(
        path=path,
        schema="db",
        table="t",
        kind=FileKind.DATA,
        format="csv",
        size=os.path.getsize(path),
    )
    plan = TablePlan(
        target_schema="db",
        target_table="t",
        sources=(("db", "t"),),
        schema_file=None,
        data_files=(file,),
    )
    mydumper = MydumperConfig(csv=csv, strict_format=True, max_region_size=4000)
    chunks = split_chunks(plan, mydumper)
    assert len(chunks) > 10
    got: Rows = []
    for chunk in chunks:
        reader = CsvReader(chunk=chunk, mydumper=mydumper, sql_mode="")
        for batch in reader.batches():
            assert batch.columns == ("a", "b", "c")
            got += batch.rows
    assert got == rows
