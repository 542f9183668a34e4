"""SQL literals read by the reader and encoded to KV pairs: hex/bit numbers, rows of defaults."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from lightning_core.kv.decoder import TableKVDecoder
from lightning_core.kv.encoder import TableKVEncoder
from lightning_core.schema.model import ColumnType, TableInfo
from tests.kv.test_encoder import BIN, STRICT, col, idx
from tests.source.test_sql_reader import read_batches

T = ColumnType


def table() -> TableInfo:
    return TableInfo(
        id=5,
        schema="s",
        name="t",
        columns=(
            col(1, "id", T.LONG, not_null=True, has_default=True, default=7),
            col(2, "d", T.NEWDECIMAL, flen=10, decimal=1, has_default=True, default=Decimal("2.5")),
            col(3, "v", T.VARCHAR, flen=10, has_default=True, default=b"dflt", **BIN),
        ),
        indexes=(idx(1, "PRIMARY", ("id", 0, -1), unique=True, primary=True),),
        pk_is_handle=True,
    )


def decode(path: Path) -> list[dict[str, object]]:
    encoder = TableKVEncoder(table(), sql_mode=STRICT)
    pairs = []
    for batch in read_batches(path):
        pairs += encoder.encode_batch(batch, str(path))[0]
    return TableKVDecoder(table()).decode_rows(pairs)


def test_hex_and_bit_literals_are_numbers_in_numeric_columns(tmp_path: Path) -> None:
    # MySQL: 0x31 and b'110010' in numeric context are 49 and 50; '1' is 1; in a string
    # column the literal is its bytes.
    path = tmp_path / "s.t.sql"
    path.write_bytes(
        b"INSERT INTO t VALUES (0x31,b'110010',0x41),(X'33',0x0A,'x'),('1','2.5',b'1000010');"
    )
    assert sorted(decode(path), key=lambda row: row["id"]) == [  # type: ignore[arg-type,return-value]
        {"id": 1, "d": Decimal("2.5"), "v": b"B"},
        {"id": 49, "d": Decimal("50.0"), "v": b"A"},
        {"id": 51, "d": Decimal("10.0"), "v": b"x"},
    ]


def test_empty_rows_are_rows_of_column_defaults(tmp_path: Path) -> None:
    path = tmp_path / "s.t.sql"
    path.write_bytes(b"INSERT INTO t () VALUES ();")
    assert decode(path) == [{"id": 7, "d": Decimal("2.5"), "v": b"dflt"}]
