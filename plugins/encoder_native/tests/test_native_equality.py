"""kv-native gives the kv encoder's pairs, checksum, row IDs and warnings, byte for byte.

Hypothesis builds tables (every column type the KV encoder stores, NULLs and defaults, int /
clustered / no primary key, unique and non-unique secondary indexes of up to three columns,
prefix lengths, every supported collation, auto-increment, shard bits) and source rows shaped
as the readers yield them (ints, bytes, Decimals, None; clean and dirty), then encodes each
batch with both encoders. Either both give the same result, or both fail with the same message.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lightning_encoder_native._kernel import crc64
from lightning_encoder_native.encoder import NativeTableKVEncoder

from lightning_core import EncodeError, ReadPosition, RowBatch, TableKVEncoder
from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)

T = ColumnType
NOW = datetime.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=datetime.UTC)
MODES = ("", "STRICT_TRANS_TABLES", "STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE")

STRING_CHARSETS = (
    ("utf8mb4", "utf8mb4_bin"),
    ("utf8mb4", "utf8mb4_general_ci"),
    ("utf8mb4", "utf8mb4_0900_bin"),
    ("utf8", "utf8_bin"),
    ("utf8", "utf8_general_ci"),
    ("latin1", "latin1_bin"),
    ("ascii", "ascii_bin"),
    ("binary", "binary"),
)
INDEXABLE = (
    T.TINY,
    T.SHORT,
    T.INT24,
    T.LONG,
    T.LONGLONG,
    T.YEAR,
    T.FLOAT,
    T.DOUBLE,
    T.NEWDECIMAL,
    T.STRING,
    T.VARCHAR,
    T.BLOB,
    T.TINY_BLOB,
    T.DATE,
    T.DATETIME,
    T.TIMESTAMP,
    T.DURATION,
    T.ENUM,
    T.SET,
    T.BIT,
)
ALL_TYPES = (*INDEXABLE, T.JSON)
INTEGERS = (T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG)
STRINGS = (T.STRING, T.VARCHAR, T.BLOB, T.TINY_BLOB)


@st.composite
def field_types(draw: st.DrawFn, tp: ColumnType) -> FieldType:
    """A field type of ``tp`` with random length, scale, sign and collation."""
    if tp in INTEGERS:
        return FieldType(tp=tp, unsigned=draw(st.booleans()))
    if tp == T.NEWDECIMAL:
        precision = draw(st.integers(1, 65))
        return FieldType(tp=tp, flen=precision, decimal=draw(st.integers(0, min(30, precision))))
    if tp in (T.FLOAT, T.DOUBLE):
        scaled = draw(st.booleans())
        return FieldType(
            tp=tp,
            flen=draw(st.integers(5, 20)) if scaled else -1,
            decimal=draw(st.integers(0, 4)) if scaled else -1,
            unsigned=draw(st.booleans()),
        )
    if tp in STRINGS:
        charset, collation = draw(st.sampled_from(STRING_CHARSETS))
        return FieldType(
            tp=tp,
            flen=draw(st.integers(1, 40)) if tp in (T.STRING, T.VARCHAR) else -1,
            charset=charset,
            collation=collation,
        )
    if tp in (T.DATETIME, T.TIMESTAMP, T.DURATION):
        return FieldType(tp=tp, decimal=draw(st.sampled_from((-1, 0, 3, 6))))
    if tp in (T.ENUM, T.SET):
        return FieldType(
            tp=tp, elems=("a", "b", "Ünï", "d e"), charset="utf8mb4", collation="utf8mb4_bin"
        )
    if tp == T.BIT:
        return FieldType(tp=tp, flen=draw(st.integers(1, 64)))
    return FieldType(tp=tp)


TEXT = st.text(alphabet=st.sampled_from("aZ z09 -éÜ€𝄞\t"), max_size=30)


def source_values(column: ColumnInfo) -> st.SearchStrategy[Any]:
    """What a reader may hand the encoder for ``column``: mostly values it stores, some NULLs
    (if nullable), now and then anything at all (bad text, out-of-range numbers)."""
    clean = _clean_values(column.ft)
    if not column.not_null:
        clean = st.one_of(clean, clean, clean, clean, st.none())
    dirty = st.one_of(
        st.none(),
        st.integers(-(2**65), 2**65),
        TEXT.map(str.encode),
        st.binary(max_size=12),
    )
    return st.integers(0, 40).flatmap(lambda n: dirty if n == 23 else clean)  # not 0: shrinks


def rarely(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``rare`` about one time in ten, else ``common`` (a sampled 7: hypothesis favours 0)."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 7 else common)


def _clean_values(ft: FieldType) -> st.SearchStrategy[Any]:
    tp = ft.tp
    if tp == T.BIT:
        return st.integers(0, (1 << ft.flen) - 1)
    if tp in INTEGERS or tp == T.YEAR:
        if tp == T.YEAR:
            small = st.integers(1901, 2155) | st.integers(0, 99)
        else:
            small = st.integers(0, 255) if ft.unsigned else st.integers(-128, 127)
        wide = st.integers(-(2**64), 2**64)
        return rarely(st.one_of(small, small.map(lambda n: str(n).encode())), wide)
    if tp in (T.FLOAT, T.DOUBLE, T.NEWDECIMAL):
        digits = max(1, min(ft.flen, 12) - max(ft.decimal, 0)) if ft.flen > 0 else 6
        low = 0 if ft.unsigned else -(10**digits) + 1
        decimals = st.decimals(
            min_value=low,
            max_value=10**digits - 1,
            allow_nan=False,
            allow_infinity=False,
            places=max(0, min(ft.decimal, 6)) if ft.decimal >= 0 else 3,
        )
        return st.one_of(
            decimals,
            st.integers(low, 10**digits - 1),
            decimals.map(lambda d: str(d).encode()),
            st.floats(low, 10**digits - 1) if tp != T.NEWDECIMAL else decimals,
        )
    if tp in STRINGS:
        limit = ft.flen if ft.flen > 0 else 30
        if ft.charset == "binary":
            return st.binary(max_size=limit)
        text = st.text(alphabet=st.sampled_from(_ALPHABETS[ft.charset]), max_size=limit)
        return text.map(lambda t: t.encode("utf-8"))
    if tp in (T.DATE, T.DATETIME, T.TIMESTAMP):
        low = datetime.datetime(1970, 1, 2) if tp == T.TIMESTAMP else datetime.datetime(1000, 1, 1)
        high = (
            datetime.datetime(2038, 1, 1) if tp == T.TIMESTAMP else datetime.datetime(9999, 12, 31)
        )
        stamps = st.datetimes(low, high)
        return rarely(
            st.one_of(
                stamps.map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S").encode()),
                stamps.map(lambda d: d.isoformat(sep=" ").encode()),
            ),
            st.sampled_from(
                [b"0000-00-00 00:00:00", b"2023-02-30", b"2024-02-29 23:59:59.9999999"]
            ),
        )
    if tp == T.DURATION:
        return st.sampled_from([b"12:34:56", b"-838:59:59", b"1 02:03", b"00:00:00.5", b"-00:01"])
    if tp in (T.ENUM, T.SET):
        return st.sampled_from([b"a", b"b", "Ünï".encode(), b"d e", b"a,b", b""])
    return st.sampled_from([b'{"a": [1, 2.5, "x"]}', b"[]", b"null", b"7", b'"s"'])


_ALPHABETS = {
    "utf8mb4": "aZz09 -éÜ€𝄞\t",
    "utf8": "aZz09 -éÜ€\t",
    "latin1": "aZz09 -éÜ",
    "ascii": "aZz09 -_",
    "binary": "aZz09 -\x00\xff",
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[TableInfo, list[st.SearchStrategy[Any]]]:
    """A table and, per column, the strategy of its source values."""
    count = draw(st.integers(1, 6))
    types = [draw(st.sampled_from(ALL_TYPES)) for _ in range(count)]
    pk_kind = draw(st.sampled_from(("none", "int", "clustered", "nonclustered")))
    indexable = [i for i, tp in enumerate(types) if tp in INDEXABLE]
    int_columns = [i for i, tp in enumerate(types) if tp in INTEGERS]
    pk: list[int] = []
    if pk_kind == "int" and int_columns:
        pk = [draw(st.sampled_from(int_columns))]
    elif pk_kind in ("clustered", "nonclustered") and indexable:
        pk = draw(st.lists(st.sampled_from(indexable), min_size=1, max_size=2, unique=True))
    else:
        pk_kind = "none"
    auto_inc = -1
    if int_columns and draw(st.integers(0, 4)) == 0:
        auto_inc = pk[0] if pk_kind == "int" else draw(st.sampled_from(int_columns))
    columns = []
    for i, tp in enumerate(types):
        ft = draw(field_types(tp))
        not_null = i in pk or draw(st.booleans())
        default: Any = None
        has_default = False
        if tp in INTEGERS and i != auto_inc and draw(st.booleans()):
            has_default, default = True, 7
        elif tp in STRINGS and draw(st.booleans()):
            has_default, default = True, b"dflt"
        default_expr = None
        if tp in (T.DATETIME, T.TIMESTAMP) and draw(st.booleans()):
            default_expr = "CURRENT_TIMESTAMP"
        columns.append(
            ColumnInfo(
                id=draw(st.sampled_from((i + 1, i + 1, i + 300))),
                name=f"c{i}",
                offset=i,
                ft=ft,
                not_null=not_null,
                has_default=has_default,
                default=default,
                default_expr=default_expr,
                auto_increment=i == auto_inc,
            )
        )
    ids = [c.id for c in columns]
    if len(set(ids)) != len(ids):
        columns = [attrs_evolve(c, id=c.offset + 1) for c in columns]

    def index_column(i: int) -> IndexColumn:
        length = -1
        if types[i] in STRINGS and draw(st.booleans()):
            length = draw(st.integers(1, 12))
        return IndexColumn(name=f"c{i}", offset=i, length=length)

    indexes = []
    if pk:
        indexes.append(
            IndexInfo(
                id=1,
                name="PRIMARY",
                columns=tuple(
                    IndexColumn(name=f"c{i}", offset=i) if pk_kind == "int" else index_column(i)
                    for i in pk
                ),
                unique=True,
                primary=True,
            )
        )
    if indexable:
        for n in range(draw(st.integers(0, 3))):
            chosen = draw(st.lists(st.sampled_from(indexable), min_size=1, max_size=3, unique=True))
            indexes.append(
                IndexInfo(
                    id=n + 2,
                    name=f"i{n}",
                    columns=tuple(index_column(i) for i in chosen),
                    unique=draw(st.booleans()),
                )
            )
    table = TableInfo(
        id=draw(st.integers(1, 2**40)),
        schema="db",
        name="t",
        columns=tuple(columns),
        indexes=tuple(indexes),
        pk_is_handle=pk_kind == "int",
        is_common_handle=pk_kind == "clustered",
        shard_row_id_bits=draw(st.sampled_from((0, 0, 4)))
        if pk_kind in ("none", "nonclustered")
        else 0,
    )
    return table, [source_values(c) for c in table.columns]


def attrs_evolve(column: ColumnInfo, **changes: Any) -> ColumnInfo:
    import attrs

    return attrs.evolve(column, **changes)


def outcome(encoder: TableKVEncoder, batches: list[RowBatch]) -> list[object]:
    """Per batch, the pairs and checksum or the error message; then row IDs and warnings.

    After a failed batch the chunk is abandoned, so ``max_row_id`` (which the Python loop
    advances up to the failing row and the kernel does not) is compared only without errors.
    """
    results: list[object] = []
    for batch in batches:
        try:
            pairs, checksum = encoder.encode_batch(batch, "t.sql")
        except Exception as exc:  # both must fail alike, even where the converter has a bug
            results.append((type(exc).__name__, str(exc)))
            return results
        results.append((pairs, checksum))
    results.append((encoder.max_row_id, encoder.warnings.warnings))
    return results


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_native_encoder_gives_the_python_encoders_bytes(data: st.DataObject) -> None:
    table, value_strategies = data.draw(tables())
    sql_mode = data.draw(st.sampled_from(MODES))
    names: tuple[str, ...] | None = None
    if data.draw(st.booleans()):
        provided = data.draw(st.permutations([c.name for c in table.columns]))
        if data.draw(st.booleans()):
            provided = provided[: data.draw(st.integers(1, len(provided)))]
        names = tuple(provided)
    positions = [table.column(n).offset for n in names] if names else range(len(table.columns))
    row = st.tuples(*[value_strategies[i] for i in positions])
    batches = []
    done = 0
    for _ in range(data.draw(st.integers(1, 3))):
        rows = data.draw(st.lists(row, min_size=1, max_size=8))
        if data.draw(st.integers(0, 20)) == 13:
            rows.append(rows[0][:-1])  # a short row
        done += len(rows)
        batches.append(
            RowBatch(
                columns=names,
                rows=rows,
                offsets=[10 * i for i in range(len(rows))],
                end=ReadPosition(offset=999, rows=done),
            )
        )
    options: dict[str, Any] = {
        "sql_mode": sql_mode,
        "now": NOW,
        "auto_id_base": data.draw(st.sampled_from((0, 1000))),
        "shard_seed": data.draw(st.sampled_from((0, 12345, -1, 2**70))),
    }
    try:
        python = TableKVEncoder(table, **options)
    except EncodeError as exc:
        try:
            NativeTableKVEncoder(table, **options)
        except EncodeError as native_exc:
            assert str(native_exc) == str(exc)
            return
        raise AssertionError("the native encoder accepted a table the Python one refused") from exc
    native = NativeTableKVEncoder(table, **options)
    expected = outcome(python, batches)
    assert outcome(native, batches) == expected
    failed = isinstance(expected[-1], tuple) and isinstance(expected[-1][0], str)
    event("a batch failed" if failed else "every batch encoded")
    event(f"{len(table.stored_indexes)} stored indexes")
    handle = "common" if table.is_common_handle else "int" if table.pk_is_handle else "row id"
    event(f"handle: {handle}")
    if any(index.restore is not None for index in python.plan.indexes):
        event("an index has restored data")


@given(data=st.binary(max_size=100), start=st.integers(0, 2**64 - 1))
def test_kernel_crc64_is_crc64_xz(data: bytes, start: int) -> None:
    from lightning_core.kv.checksum import crc64_python

    assert crc64(data, start) == crc64_python(data, start)
    assert crc64(b"123456789") == 0x995DC9BBDF1939FA


@settings(max_examples=1000, deadline=None)
@given(
    precision=st.integers(1, 65),
    scale_seed=st.integers(0, 30),
    unsigned=st.booleans(),
    values=st.lists(
        st.decimals(allow_nan=False, allow_infinity=False)
        | st.integers(-(10**70), 10**70).map(Decimal)
        | st.sampled_from([Decimal("-0.00"), Decimal("0E-7"), Decimal("1E+2"), Decimal("9" * 65)]),
        min_size=1,
        max_size=20,
    ),
)
def test_native_decimal_keys_and_values(
    precision: int, scale_seed: int, unsigned: bool, values: list[Decimal]
) -> None:
    # a DECIMAL column as row data, clustered key and secondary index: MyDecimal in all three
    ft = FieldType(
        tp=T.NEWDECIMAL, flen=precision, decimal=scale_seed % (precision + 1), unsigned=unsigned
    )
    table = TableInfo(
        id=3,
        schema="db",
        name="d",
        columns=(
            ColumnInfo(id=1, name="k", offset=0, ft=FieldType(tp=T.LONG), not_null=True),
            ColumnInfo(id=2, name="d", offset=1, ft=ft),
        ),
        indexes=(
            IndexInfo(
                id=1,
                name="PRIMARY",
                columns=(IndexColumn(name="k", offset=0),),
                primary=True,
                unique=True,
            ),
            IndexInfo(id=2, name="i", columns=(IndexColumn(name="d", offset=1),)),
        ),
        is_common_handle=True,
    )
    batch = RowBatch(
        columns=None,
        rows=[(i, v) for i, v in enumerate(values)],
        offsets=list(range(len(values))),
        end=ReadPosition(offset=99, rows=len(values)),
    )
    results = []
    for encoder in (TableKVEncoder(table, sql_mode=""), NativeTableKVEncoder(table, sql_mode="")):
        try:
            results.append(encoder.encode_batch(batch, "d.sql"))
        except Exception as exc:
            results.append((type(exc).__name__, str(exc)))
    assert results[0] == results[1]
