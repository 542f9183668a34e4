"""KV pairs → rows: reads back what :class:`.encoder.TableKVEncoder` (or TiDB) wrote.

Used by tests and by the embedded store to show and verify imported data. Record pairs give
rows; index pairs can be checked against the rows they point to.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.kv import keys
from lightning_core.kv.memcomparable import Kind, decode_all, nanos_duration
from lightning_core.kv.rowcodec import decode_row, unpack_time
from lightning_core.schema.model import ColumnType, FieldType, TableInfo


def key_datum_value(kind: Kind, value: Any, ft: FieldType) -> Any:
    """The canonical value of a datum decoded from a key, for a column of type ``ft``."""
    if kind is Kind.NULL:
        return None
    if ft.is_time:
        return unpack_time(value)
    if ft.tp == ColumnType.DURATION:
        return nanos_duration(value)
    return value


class TableKVDecoder:
    """Decodes the record pairs of one table into rows of canonical values."""

    def __init__(self, table: TableInfo) -> None:
        self.table = table
        self._fts = {c.id: c.ft for c in table.columns}
        self._record_prefix = keys.record_prefix(table.id)
        self._index_ids = {index.id for index in table.stored_indexes}

    def decode_record(self, key: bytes, value: bytes) -> tuple[int | bytes, dict[str, Any]]:
        """``(handle, row)`` of one record pair; ``row`` maps column names to values.

        Columns absent from the row value (NULL by default) are None; an int primary key that
        is the handle, and clustered primary-key columns left out of the value, are read from
        the key.
        """
        table_id, handle = keys.decode_record_key(key)
        if table_id != self.table.id:
            raise EncodeError(f"record key of table {table_id}, expected {self.table.id}")
        by_id = decode_row(value, self._fts)
        row: dict[str, Any] = {}
        for column in self.table.columns:
            row[column.name] = by_id.get(column.id)
        handle_column = self.table.handle_column
        if handle_column is not None:
            assert isinstance(handle, int)
            row[handle_column.name] = (
                handle + (1 << 64) if handle_column.ft.unsigned and handle < 0 else handle
            )
        elif self.table.is_common_handle and isinstance(handle, bytes):
            pk = self.table.primary_index
            assert pk is not None
            datums = decode_all(handle)
            for ic, (kind, datum) in zip(pk.columns, datums, strict=True):
                column = self.table.columns[ic.offset]
                if column.id not in by_id:
                    row[column.name] = key_datum_value(kind, datum, column.ft)
        return handle, row

    def decode_rows(self, pairs: Iterable[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        """The rows of the record pairs among ``pairs`` (index pairs are skipped)."""
        rows = []
        for key, value in pairs:
            if key.startswith(self._record_prefix):
                rows.append(self.decode_record(key, value)[1])
        return rows

    def index_handles(self, pairs: Iterable[tuple[bytes, bytes]]) -> dict[int, list[Any]]:
        """Index id → handles its entries point to (for consistency checks)."""
        result: dict[int, list[Any]] = {i: [] for i in self._index_ids}
        lengths = {index.id: len(index.columns) for index in self.table.stored_indexes}
        for key, value in pairs:
            if not keys.is_index_key(key):
                continue
            _, index_id, datums = keys.decode_index_key(key)
            decoded = keys.decode_index_value(value)
            if decoded.int_handle is not None:
                handle: Any = decoded.int_handle
            elif decoded.common_handle is not None:
                handle = decoded.common_handle
            else:
                suffix = datums[lengths[index_id] :]
                if (
                    len(suffix) == 1
                    and suffix[0][0] is Kind.INT
                    and not self.table.is_common_handle
                ):
                    handle = suffix[0][1]
                else:
                    handle = key[len(key) - _suffix_length(key, lengths[index_id]) :]
            result.setdefault(index_id, []).append(handle)
        return result


def _suffix_length(key: bytes, columns: int) -> int:
    """Bytes of ``key`` after the first ``columns`` datums of an index key."""
    from lightning_core.kv.memcomparable import decode_one

    pos = 19
    for _ in range(columns):
        _, _, pos = decode_one(key, pos)
    return len(key) - pos
