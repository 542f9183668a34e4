"""TableKVEncoder on small tables: exact pairs (worked from the layouts in lightning_core/kv),
defaults, row IDs, collations, clustered keys, errors; decoded back with TableKVDecoder."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lightning_core.errors import EncodeError
from lightning_core.interfaces import ReadPosition, RowBatch
from lightning_core.kv import keys
from lightning_core.kv.checksum import KVChecksum
from lightning_core.kv.decoder import TableKVDecoder
from lightning_core.kv.encoder import TableKVEncoder, needs_restored_data
from lightning_core.kv.rowcodec import encode_row
from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)

T = ColumnType
STRICT = "STRICT_TRANS_TABLES"
BIN = {"charset": "utf8mb4", "collation": "utf8mb4_bin"}
CI = {"charset": "utf8mb4", "collation": "utf8mb4_general_ci"}


def col(cid: int, name: str, tp: ColumnType, **kw: Any) -> ColumnInfo:
    ft_keys = {"flen", "decimal", "unsigned", "charset", "collation", "elems"}
    ft = FieldType(tp=tp, **{k: v for k, v in kw.items() if k in ft_keys})
    rest = {k: v for k, v in kw.items() if k not in ft_keys}
    return ColumnInfo(id=cid, name=name, offset=cid - 1, ft=ft, **rest)


def idx(iid: int, name: str, *cols: tuple[str, int, int], **kw: Any) -> IndexInfo:
    columns = tuple(IndexColumn(name=n, offset=o, length=length) for n, o, length in cols)
    return IndexInfo(id=iid, name=name, columns=columns, **kw)


def batch(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...] | None = None, done: int = 0
) -> RowBatch:
    return RowBatch(
        columns=columns,
        rows=rows,
        offsets=[100 * i for i in range(len(rows))],
        end=ReadPosition(offset=999, rows=done + len(rows)),
    )


def sbtest() -> TableInfo:
    return TableInfo(
        id=100,
        schema="sbtest",
        name="sbtest1",
        columns=(
            col(1, "id", T.LONGLONG, not_null=True),
            col(2, "k", T.LONG, not_null=True, has_default=True, default=0),
            col(3, "c", T.STRING, flen=120, not_null=True, has_default=True, default=b"", **BIN),
            col(4, "pad", T.STRING, flen=60, not_null=True, has_default=True, default=b"", **BIN),
        ),
        indexes=(
            idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),
            idx(2, "k_1", ("k", 1, -1)),
        ),
        pk_is_handle=True,
    )


def test_sysbench_pairs_exact() -> None:
    table = sbtest()
    pairs, checksum = TableKVEncoder(table, sql_mode=STRICT).encode_batch(
        batch([(1, 5, b"hello", b"pad")]), "f.sql"
    )
    record_key = bytes.fromhex("74 8000000000000064 5f72 8000000000000001".replace(" ", ""))
    # Row: ids 2,3,4 not null; offsets 1, 6, 9; data 05 'hello' 'pad'.
    record_value = bytes.fromhex(
        "80 00 0300 0000 02 03 04 0100 0600 0900 05 68656c6c6f 706164".replace(" ", "")
    )
    index_key = bytes.fromhex(
        "74 8000000000000064 5f69 8000000000000002 03 8000000000000005 03 8000000000000001".replace(
            " ", ""
        )
    )
    assert pairs == [(record_key, record_value), (index_key, b"0")]
    expected = KVChecksum()
    expected.update(pairs)
    assert checksum == expected
    assert TableKVDecoder(table).decode_rows(pairs) == [
        {"id": 1, "k": 5, "c": b"hello", "pad": b"pad"}
    ]


def test_columns_by_name_defaults_and_nulls() -> None:
    table = TableInfo(
        id=7,
        schema="s",
        name="t",
        columns=(
            col(1, "id", T.LONG, not_null=True),
            col(2, "a", T.LONG),  # DEFAULT NULL: a NULL is left out of the row
            col(3, "b", T.LONG, has_default=True, default=9),  # NULL kept in the null list
            col(4, "d", T.NEWDECIMAL, flen=6, decimal=2, has_default=True, default=Decimal("1.50")),
        ),
        indexes=(idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),),
        pk_is_handle=True,
    )
    encoder = TableKVEncoder(table, sql_mode=STRICT)
    pairs, _ = encoder.encode_batch(batch([(None, b"3", None)], columns=("B", "ID", "a")), "x")
    assert len(pairs) == 1
    key, value = pairs[0]
    assert keys.decode_record_key(key) == (7, 3)
    fts = [c.ft for c in table.columns]
    assert value == encode_row([3, 4], [None, Decimal("1.50")], [fts[2], fts[3]])
    assert TableKVDecoder(table).decode_rows(pairs) == [
        {"id": 3, "a": None, "b": None, "d": Decimal("1.50")}
    ]


def hidden_rowid_table() -> TableInfo:
    return TableInfo(
        id=8,
        schema="s",
        name="t",
        columns=(col(1, "u", T.LONG), col(2, "v", T.VARCHAR, flen=10, **BIN)),
        indexes=(idx(1, "u", ("u", 0, -1), unique=True),),
    )


def test_row_ids_and_unique_index_with_null() -> None:
    table = hidden_rowid_table()
    encoder = TableKVEncoder(table, sql_mode=STRICT, auto_id_base=1000)
    # The batch ends after the chunk's 12th row: its two rows are rows 11 and 12.
    pairs, _ = encoder.encode_batch(batch([(1, b"a"), (None, b"b")], done=10), "x")
    assert keys.decode_record_key(pairs[0][0]) == (8, 1011)
    assert keys.decode_record_key(pairs[2][0]) == (8, 1012)
    # Distinct: key without handle, value = 8-byte handle.
    assert pairs[1] == (
        keys.index_prefix(8, 1) + b"\x03" + (1 + (1 << 63)).to_bytes(8, "big"),
        (1011).to_bytes(8, "big"),
    )
    # NULL in a unique index: not distinct, handle in the key, value '0'.
    assert pairs[3] == (
        keys.index_prefix(8, 1) + b"\x00\x03" + (1012 + (1 << 63)).to_bytes(8, "big"),
        b"0",
    )
    assert encoder.max_row_id == 1012


def test_auto_increment_fill() -> None:
    table = TableInfo(
        id=9,
        schema="s",
        name="t",
        columns=(col(1, "id", T.LONGLONG, not_null=True, auto_increment=True), col(2, "x", T.LONG)),
        indexes=(idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),),
        pk_is_handle=True,
    )
    encoder = TableKVEncoder(table, sql_mode=STRICT)
    pairs, _ = encoder.encode_batch(batch([(None, 1), (50, 2)], columns=("id", "x")), "x")
    assert [keys.decode_record_key(k)[1] for k, _ in pairs] == [1, 50]
    assert encoder.max_row_id == 50
    pairs, _ = encoder.encode_batch(batch([(3,)], columns=("x",), done=2), "x")
    assert keys.decode_record_key(pairs[0][0])[1] == 3


def test_general_ci_index_has_restored_data() -> None:
    table = TableInfo(
        id=10,
        schema="s",
        name="t",
        columns=(col(1, "id", T.LONG, not_null=True), col(2, "name", T.VARCHAR, flen=20, **CI)),
        indexes=(
            idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),
            idx(2, "name", ("name", 1, -1), unique=True),
        ),
        pk_is_handle=True,
    )
    pairs, _ = TableKVEncoder(table, sql_mode=STRICT).encode_batch(batch([(4, b"Ab ")]), "x")
    key, value = pairs[1]
    # Key: the general_ci weights of 'Ab' (trailing space trimmed), memcomparable.
    assert key == keys.index_prefix(10, 2) + bytes.fromhex(
        "01 0041004200000000 fb".replace(" ", "")
    )
    # Value (version 0, unique int handle): tail length 8, restored row of column 2 = 'Ab ',
    # then the handle.
    restored = encode_row([2], [b"Ab "], [table.columns[1].ft])
    assert value == b"\x08" + restored + (4).to_bytes(8, "big")
    decoded = keys.decode_index_value(value)
    assert decoded.int_handle == 4 and decoded.restored == restored


def test_clustered_varchar_primary_key() -> None:
    table = TableInfo(
        id=11,
        schema="s",
        name="t",
        columns=(
            col(1, "code", T.VARCHAR, flen=10, not_null=True, **BIN),
            col(2, "n", T.LONG),
            col(3, "tag", T.STRING, flen=5, **BIN),
        ),
        indexes=(
            idx(1, "PRIMARY", ("code", 0, -1), unique=True, primary=True),
            idx(2, "n", ("n", 1, -1)),
            idx(3, "tag", ("tag", 2, -1), unique=True),
        ),
        is_common_handle=True,
    )
    pairs, _ = TableKVEncoder(table, sql_mode=STRICT).encode_batch(batch([(b"ab  ", 1, b"z")]), "x")
    # 'ab' with its spaces trimmed: 2 bytes, 6 pads, marker 0xFF - 6.
    handle = bytes.fromhex("01 6162000000000000 f9".replace(" ", ""))
    record_key, record_value = pairs[0]
    assert record_key == keys.encode_common_handle_record_key(11, handle)
    # VARCHAR _bin needs restored data, so the key column stays in the row value.
    fts = [c.ft for c in table.columns]
    assert record_value == encode_row([1, 2, 3], [b"ab  ", 1, b"z"], fts)
    # The handle's restored data of an index: the count of trimmed spaces (2) for column 1.
    handle_restored = encode_row([1], [2], [FieldType(tp=T.LONGLONG, unsigned=True)])
    assert pairs[1] == (
        keys.index_prefix(11, 2) + b"\x03" + (1 + (1 << 63)).to_bytes(8, "big") + handle,
        b"\x00\x7d\x01" + handle_restored,
    )
    assert pairs[2] == (
        keys.index_prefix(11, 3) + bytes.fromhex("01 7a00000000000000 f8".replace(" ", "")),
        b"\x00\x7d\x01\x7f" + len(handle).to_bytes(2, "big") + handle + handle_restored,
    )
    assert TableKVDecoder(table).decode_rows(pairs) == [{"code": b"ab  ", "n": 1, "tag": b"z"}]


def test_prefix_index_truncates_characters() -> None:
    table = TableInfo(
        id=12,
        schema="s",
        name="t",
        columns=(col(1, "id", T.LONG, not_null=True), col(2, "s", T.BLOB, **BIN)),
        indexes=(
            idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),
            idx(2, "s", ("s", 1, 2)),
        ),
        pk_is_handle=True,
    )
    pairs, _ = TableKVEncoder(table, sql_mode=STRICT).encode_batch(
        batch([(1, "äöü".encode())]), "x"
    )
    expected_values = bytes.fromhex("01") + "äö".encode() + bytes(4) + b"\xfb"
    assert pairs[1][0] == keys.index_prefix(12, 2) + expected_values + b"\x03" + (
        1 + (1 << 63)
    ).to_bytes(8, "big")


def test_unsigned_handle_above_int64() -> None:
    table = TableInfo(
        id=13,
        schema="s",
        name="t",
        columns=(col(1, "id", T.LONGLONG, unsigned=True, not_null=True),),
        indexes=(idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),),
        pk_is_handle=True,
    )
    pairs, _ = TableKVEncoder(table, sql_mode=STRICT).encode_batch(batch([((1 << 64) - 1,)]), "x")
    assert keys.decode_record_key(pairs[0][0]) == (13, -1)
    assert pairs[0][1] == bytes.fromhex("800000000000")
    assert TableKVDecoder(table).decode_rows(pairs) == [{"id": (1 << 64) - 1}]


def test_bad_value_names_table_column_and_position() -> None:
    encoder = TableKVEncoder(sbtest(), sql_mode=STRICT)
    with pytest.raises(EncodeError) as err:
        encoder.encode_batch(batch([(1, 2, b"c", b"p"), (2, b"xyz", b"c", b"p")]), "/d/t.sql")
    message = str(err.value)
    assert "/d/t.sql:100" in message and "`sbtest`.`sbtest1`" in message and "`k`" in message


def test_short_row_and_missing_not_null_column() -> None:
    encoder = TableKVEncoder(sbtest(), sql_mode=STRICT)
    with pytest.raises(EncodeError, match="2 values"):
        encoder.encode_batch(batch([(1, 2)]), "f")
    table = hidden_rowid_table()
    strict_table = TableInfo(
        id=14,
        schema="s",
        name="t",
        columns=(col(1, "a", T.LONG, not_null=True), col(2, "b", T.LONG)),
        indexes=(),
    )
    del table
    with pytest.raises(EncodeError, match="`a`"):
        TableKVEncoder(strict_table, sql_mode=STRICT).encode_batch(batch([(1,)], ("b",)), "f")


def test_unsupported_collation_in_an_index_is_refused_early() -> None:
    table = TableInfo(
        id=15,
        schema="s",
        name="t",
        columns=(
            col(1, "s", T.VARCHAR, flen=5, charset="utf8mb4", collation="utf8mb4_unicode_ci"),
        ),
        indexes=(idx(1, "s", ("s", 0, -1)),),
    )
    with pytest.raises(EncodeError, match="utf8mb4_unicode_ci"):
        TableKVEncoder(table, sql_mode=STRICT)
    unindexed = TableInfo(id=15, schema="s", name="t", columns=table.columns, indexes=())
    pairs, _ = TableKVEncoder(unindexed, sql_mode=STRICT).encode_batch(batch([(b"x",)]), "f")
    assert len(pairs) == 1


def test_needs_restored_data() -> None:
    assert needs_restored_data(FieldType(tp=T.VARCHAR, **CI))
    assert needs_restored_data(FieldType(tp=T.STRING, **CI))
    assert needs_restored_data(FieldType(tp=T.VARCHAR, **BIN))
    assert not needs_restored_data(FieldType(tp=T.STRING, **BIN))
    assert not needs_restored_data(FieldType(tp=T.BLOB, **BIN))
    assert not needs_restored_data(FieldType(tp=T.VARCHAR))
    assert not needs_restored_data(FieldType(tp=T.LONG))
