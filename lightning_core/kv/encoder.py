"""Rows → TiDB KV pairs: one record pair per row and one pair per stored index.

:class:`TableKVEncoder` precomputes, once per table, how each column is converted, stored in
the row value and encoded in each index key; per row it only runs those closures. It writes
what TiDB (with new collations, the default since v4.0 for new clusters) writes for the same
``INSERT``: see :mod:`.keys` for the layouts, :mod:`.rowcodec` for the row value.

Which columns a row value holds (as TiDB's ``CanSkip`` decides): not the int primary key that
is the handle, not a clustered primary-key column whose key bytes restore it, not a virtual
generated column, and not a NULL column whose default is NULL.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable, Sequence
from typing import Any

from lightning_core.errors import EncodeError
from lightning_core.interfaces import RowBatch
from lightning_core.kv import keys
from lightning_core.kv.checksum import KVChecksum, raw_crc64
from lightning_core.kv.collation import (
    BIN_COLLATIONS,
    collation_key_function,
    tail_space_count,
)
from lightning_core.kv.memcomparable import (
    duration_nanos,
    encode_decimal_payload,
    encode_float,
    encode_int,
    encode_uint,
)
from lightning_core.kv.rowcodec import assemble_row, pack_time, value_encoder
from lightning_core.schema.convert import NO_DEFAULT, WarningCounter, make_converter, row_defaults
from lightning_core.schema.model import ColumnInfo, ColumnType, FieldType, IndexInfo, TableInfo

KVPair = tuple[bytes, bytes]
KeyEncoder = Callable[[Any], bytes]

_INT64_SPAN = 1 << 64
_INT64_LIMIT = 1 << 63
_MASK64 = _INT64_SPAN - 1
_INT_KEY = struct.Struct(">Q")
_INT_DATUM = struct.Struct(">BQ")
_U64BE = struct.Struct(">Q")
_VARCHAR_TYPES = (ColumnType.VARCHAR, ColumnType.VAR_STRING)


def needs_restored_data(ft: FieldType) -> bool:
    """Whether an index on a column of type ``ft`` stores the original value in its value.

    True for non-binary strings, except CHAR/TEXT of a PAD SPACE ``_bin`` collation and
    ``utf8mb4_0900_bin`` (their key bytes give the value back).
    """
    if not ft.is_string or ft.collation == "binary":
        return False
    if ft.collation == "utf8mb4_0900_bin":
        return False
    return ft.collation not in BIN_COLLATIONS or ft.tp in _VARCHAR_TYPES


def key_encoder(column: ColumnInfo, *, table: str = "") -> KeyEncoder:
    """The comparable datum (flag + payload) of a non-NULL value of ``column`` in a key."""
    ft = column.ft
    tp = ft.tp
    pack = _INT_DATUM.pack
    if ft.is_integer:
        if ft.unsigned:
            return lambda v: pack(0x04, v)
        return lambda v: pack(0x03, v + _INT64_LIMIT)
    if tp == ColumnType.YEAR:
        return lambda v: pack(0x03, v + _INT64_LIMIT)
    if tp in (ColumnType.ENUM, ColumnType.SET, ColumnType.BIT):
        return lambda v: b"\x04" + encode_uint(v)
    if tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return lambda v: b"\x05" + encode_float(v)
    if tp == ColumnType.NEWDECIMAL:
        precision, frac = ft.flen, max(ft.decimal, 0)
        return lambda v: b"\x06" + encode_decimal_payload(v, precision, frac)
    if ft.is_string:
        from lightning_core.kv.memcomparable import encode_bytes

        where = f"{table}.`{column.name}`" if table else f"`{column.name}`"
        collate = collation_key_function(ft.collation, column=where)
        return lambda v: b"\x01" + encode_bytes(collate(v))
    if ft.is_time:
        return lambda v: b"\x04" + encode_uint(pack_time(v))
    if tp == ColumnType.DURATION:
        return lambda v: b"\x07" + encode_int(duration_nanos(v))
    raise EncodeError(
        f"column `{column.name}` of type {tp.name} cannot be part of an index key in the KV "
        "encoder; use the tidb backend for this table"
    )


def _truncator(column: ColumnInfo, length: int) -> Callable[[Any], Any] | None:
    """Prefix-index truncation: characters for text, bytes for binary/ascii strings."""
    if length < 0 or not column.ft.is_string:
        return None
    charset = column.ft.charset.lower()
    if charset in ("binary", "ascii", "latin1"):
        return lambda v: v[:length] if v is not None and len(v) > length else v

    def truncate(v: Any) -> Any:
        if v is None or len(v) <= length:
            return v
        text = v.decode("utf-8", "surrogateescape")
        if len(text) <= length:
            return v
        return text[:length].encode("utf-8", "surrogateescape")

    return truncate


def _to_int64(value: int) -> int:
    return value - _INT64_SPAN if value >= _INT64_LIMIT else value


class _IndexPlan:
    """How one stored index turns a row's values into a key and a value."""

    def __init__(self, table: TableInfo, index: IndexInfo, pk_offsets: dict[int, int]) -> None:
        self.index = index
        self.prefix = keys.index_prefix(table.id, index.id)
        self.unique = index.unique
        columns = [table.columns[c.offset] for c in index.columns]
        self.offsets = [c.offset for c in index.columns]
        self.truncators = [
            _truncator(col, ic.length) for col, ic in zip(columns, index.columns, strict=True)
        ]
        self.has_truncation = any(t is not None for t in self.truncators)
        self.key_encoders = [key_encoder(col, table=table.qualified_name) for col in columns]
        self.restore = any(needs_restored_data(col.ft) for col in columns)
        self.common = table.is_common_handle
        # Restored-data columns: (column id, offset in index values, as tail-space count?)
        self.restore_columns: list[tuple[int, int, bool, Callable[[Any], bytes]]] = []
        if self.common:
            for i, col in enumerate(columns):
                if col.offset in pk_offsets or not needs_restored_data(col.ft):
                    continue
                as_count = col.ft.collation in BIN_COLLATIONS
                self.restore_columns.append((col.id, i, as_count, value_encoder(col.ft)))
        elif self.restore:
            for i, col in enumerate(columns):
                self.restore_columns.append((col.id, i, False, value_encoder(col.ft)))
        # For a clustered table: per primary-key column, the prefix length to keep in this
        # index's copy of the handle's restored data.
        self.index_lengths = {c.offset: c.length for c in index.columns}


class TableKVEncoder:
    """Encodes the rows of one table into KV pairs exactly as TiDB writes them.

    :param table: the target table; its ``id`` goes into every key.
    :param sql_mode: the target's SQL mode (strict mode makes bad values errors).
    :param time_zone: the session time zone of TIMESTAMP text in the source.
    :param auto_id_base: row IDs already used before the chunk (``Chunk.row_id_base``); row
        ``n`` (from 1) of the chunk gets ``auto_id_base + n`` as ``_tidb_rowid`` and as the
        value of a missing or NULL auto-increment / auto-random column.
    :param now: the moment ``CURRENT_TIMESTAMP`` defaults take (default: now).
    :param shard_seed: seeds the shard bits of ``SHARD_ROW_ID_BITS`` / ``AUTO_RANDOM``
        (TiDB picks them at random; any value is valid).
    """

    def __init__(
        self,
        table: TableInfo,
        *,
        sql_mode: str,
        time_zone: str = "UTC",
        auto_id_base: int = 0,
        now: datetime.datetime | None = None,
        shard_seed: int = 0,
    ) -> None:
        self.table = table
        self.sql_mode = sql_mode
        self.time_zone = time_zone
        self.auto_id_base = auto_id_base
        self.shard_seed = shard_seed
        self.warnings = WarningCounter()
        self.max_row_id = 0
        """The largest row ID / auto-increment value produced so far."""
        name = table.qualified_name
        for column in table.columns:
            if column.is_generated and column.generated_stored:
                raise EncodeError(
                    f"table {name} has the stored generated column `{column.name}`, which the KV "
                    "encoder cannot compute; use the tidb backend for this table"
                )
        self._defaults = list(row_defaults(table, sql_mode=sql_mode, time_zone=time_zone, now=now))
        self._converters = [
            _null_passing(
                make_converter(
                    table, c, sql_mode=sql_mode, time_zone=time_zone, warnings=self.warnings
                ),
                c.auto_increment or bool(c.auto_random_bits),
            )
            for c in table.columns
        ]
        self._layouts: dict[tuple[str, ...] | None, list[tuple[int, int]]] = {}
        self._record_prefix = keys.record_prefix(table.id)
        self._prepare_handle()
        self._prepare_row_columns()
        pk_offsets = self._pk_offsets
        for index in table.stored_indexes:
            for ic in index.columns:
                if table.columns[ic.offset].is_generated:
                    raise EncodeError(
                        f"index `{index.name}` of table {name} covers the generated column "
                        f"`{table.columns[ic.offset].name}`; use the tidb backend for this table"
                    )
        self._indexes = [_IndexPlan(table, index, pk_offsets) for index in table.stored_indexes]
        self._encode_one = self._compile()

    # --- preparation ------------------------------------------------------------------------

    def _prepare_handle(self) -> None:
        table = self.table
        self._auto_inc_offset = next((c.offset for c in table.columns if c.auto_increment), None)
        self._auto_random_offset = next(
            (c.offset for c in table.columns if c.auto_random_bits), None
        )
        handle_column = table.handle_column
        self._handle_offset = handle_column.offset if handle_column is not None else None
        self._handle_unsigned = bool(handle_column and handle_column.ft.unsigned)
        self._pk_offsets: dict[int, int] = {}
        self._pk_encoders: list[tuple[int, KeyEncoder, Callable[[Any], Any] | None]] = []
        self._pk_restore: list[tuple[int, int, bool]] = []
        if table.is_common_handle:
            pk = table.primary_index
            if pk is None:
                raise EncodeError(
                    f"table {table.qualified_name} is clustered but has no primary key"
                )
            for ic in pk.columns:
                col = table.columns[ic.offset]
                self._pk_offsets[ic.offset] = ic.length
                self._pk_encoders.append(
                    (
                        ic.offset,
                        key_encoder(col, table=table.qualified_name),
                        _truncator(col, ic.length),
                    )
                )
                if needs_restored_data(col.ft):
                    self._pk_restore.append((col.id, ic.offset, col.ft.collation in BIN_COLLATIONS))
        bits = table.shard_row_id_bits if self._handle_offset is None else 0
        if table.auto_random_bits and self._auto_random_offset is not None:
            bits = table.auto_random_bits
        self._shard_bits = bits

    def _prepare_row_columns(self) -> None:
        table = self.table
        columns: list[tuple[int, int, Callable[[Any], bytes], bool]] = []
        for column in sorted(table.columns, key=lambda c: c.id):
            if column.offset == self._handle_offset:
                continue
            if column.is_generated:  # virtual (stored ones were refused)
                continue
            if column.offset in self._pk_offsets:
                length = self._pk_offsets[column.offset]
                if length < 0 and not needs_restored_data(column.ft):
                    continue
            null_default = column.default is None and column.default_expr is None
            columns.append((column.id, column.offset, value_encoder(column.ft), null_default))
        self._row_columns = columns

    def _layout(self, names: tuple[str, ...] | None) -> list[tuple[int, int]]:
        """(table column offset, source position) for the columns a source provides."""
        layout = self._layouts.get(names)
        if layout is None:
            if names is None:
                layout = [(c.offset, c.offset) for c in self.table.columns]
            else:
                layout = []
                seen: set[int] = set()
                for position, name in enumerate(names):
                    offset = self.table.column(name).offset
                    if offset in seen:
                        raise EncodeError(
                            f"column `{name}` appears twice in the column list for table "
                            f"{self.table.qualified_name}"
                        )
                    seen.add(offset)
                    layout.append((offset, position))
            provided = {offset for offset, _ in layout}
            for column in self.table.columns:
                if column.offset not in provided and self._defaults[column.offset] is NO_DEFAULT:
                    raise EncodeError(
                        f"table {self.table.qualified_name}: column `{column.name}` is NOT NULL "
                        "without a default and the source does not provide it; add it to the "
                        "data or give it a DEFAULT"
                    )
            self._layouts[names] = layout
        return layout

    # --- per row ------------------------------------------------------------------------------

    def _shard(self, row_id: int) -> int:
        if not self._shard_bits:
            return row_id
        mixed = ((row_id + self.shard_seed) * 0x9E3779B97F4A7C15) & (_INT64_SPAN - 1)
        shard = (mixed >> 32) & ((1 << self._shard_bits) - 1)
        return row_id | (shard << (63 - self._shard_bits))

    def encode_values(self, values: list[Any], row_id: int) -> list[KVPair]:
        """KV pairs of one row of canonical values by column offset (None = NULL).

        ``values`` is filled in place (auto-increment / auto-random columns).

        :param row_id: the row's ID for ``_tidb_rowid`` and auto-increment fill.
        """
        if row_id > self.max_row_id:
            self.max_row_id = row_id
        return self._encode_one(values, row_id)

    def _compile(self) -> Callable[[list[Any], int], list[KVPair]]:
        """The per-row function, with everything per-table bound as locals."""
        record_prefix = self._record_prefix
        row_columns = self._row_columns
        index_functions = [self._compile_index(plan) for plan in self._indexes]
        handle_offset = self._handle_offset
        handle_unsigned = self._handle_unsigned
        pk_encoders = self._pk_encoders
        auto_inc = self._auto_inc_offset
        auto_random = self._auto_random_offset
        shard = self._shard
        pack_int = _INT_KEY.pack
        join = b"".join

        def encode(values: list[Any], row_id: int) -> list[KVPair]:
            if auto_inc is not None:
                current = values[auto_inc]
                if current is None:
                    values[auto_inc] = row_id
                elif current > self.max_row_id:
                    self.max_row_id = current
            if auto_random is not None and values[auto_random] is None:
                values[auto_random] = shard(row_id)
            if handle_offset is not None:
                handle = values[handle_offset]
                if handle_unsigned and handle >= _INT64_LIMIT:
                    handle -= _INT64_SPAN
                handle_encoded = pack_int(handle + _INT64_LIMIT)
            elif pk_encoders:
                handle = None
                handle_encoded = join(
                    [
                        encode_key(truncate(values[offset]) if truncate else values[offset])
                        for offset, encode_key, truncate in pk_encoders
                    ]
                )
            else:
                handle = shard(row_id)
                handle_encoded = pack_int(handle + _INT64_LIMIT)
            not_null: list[int] = []
            datas: list[bytes] = []
            nulls: list[int] = []
            for col_id, offset, encode_value, null_default in row_columns:
                value = values[offset]
                if value is None:
                    if not null_default:
                        nulls.append(col_id)
                else:
                    not_null.append(col_id)
                    datas.append(encode_value(value))
            pairs = [(record_prefix + handle_encoded, assemble_row(not_null, datas, nulls))]
            for index_pair in index_functions:
                pairs.append(index_pair(values, handle, handle_encoded))
            return pairs

        return encode

    def _compile_index(self, plan: _IndexPlan) -> Callable[[list[Any], int | None, bytes], KVPair]:
        """The function producing one index's pair; a fast path for plain one-column indexes."""
        if len(plan.offsets) != 1 or plan.has_truncation or plan.restore or plan.common:
            return lambda values, handle, encoded: self._index_pair(plan, values, handle, encoded)
        prefix = plan.prefix
        offset = plan.offsets[0]
        encode_key = plan.key_encoders[0]
        null_key = prefix + b"\x00\x03"
        non_unique = keys.NON_UNIQUE_INDEX_VALUE
        pack_handle = _U64BE.pack

        if plan.unique:

            def unique_pair(values: list[Any], handle: int | None, encoded: bytes) -> KVPair:
                value = values[offset]
                if value is None:
                    return null_key + encoded, non_unique
                return prefix + encode_key(value), pack_handle(handle & _MASK64)  # type: ignore[operator]

            return unique_pair

        def pair(values: list[Any], handle: int | None, encoded: bytes) -> KVPair:
            value = values[offset]
            if value is None:
                return null_key + encoded, non_unique
            return prefix + encode_key(value) + b"\x03" + encoded, non_unique

        return pair

    def _index_pair(
        self, plan: _IndexPlan, values: list[Any], handle: int | None, handle_encoded: bytes
    ) -> KVPair:
        indexed = [values[offset] for offset in plan.offsets]
        if plan.has_truncation:
            indexed = [t(v) if t else v for t, v in zip(plan.truncators, indexed, strict=True)]
        distinct = plan.unique and None not in indexed
        key_parts = [plan.prefix]
        for encode, value in zip(plan.key_encoders, indexed, strict=True):
            key_parts.append(b"\x00" if value is None else encode(value))
        if not distinct:
            key_parts.append(b"\x03" + handle_encoded if handle is not None else handle_encoded)
        key = b"".join(key_parts)
        if not plan.common:
            restored = self._restored_v0(plan, indexed) if plan.restore else None
            value = keys.encode_index_value_int_handle(
                distinct=distinct, handle=handle or 0, restored=restored
            )
        else:
            restored = self._restored_v1(plan, indexed, values)
            value = keys.encode_index_value_common_handle(
                distinct=distinct, handle_encoded=handle_encoded, restored=restored
            )
        return key, value

    @staticmethod
    def _restored_v0(plan: _IndexPlan, indexed: list[Any]) -> bytes:
        entries = sorted(
            (col_id, indexed[i], encode) for col_id, i, _, encode in plan.restore_columns
        )
        return assemble_row(
            [c for c, v, _ in entries if v is not None],
            [enc(v) for _, v, enc in entries if v is not None],
            [c for c, v, _ in entries if v is None],
        )

    def _restored_v1(self, plan: _IndexPlan, indexed: list[Any], values: list[Any]) -> bytes | None:
        if not (plan.restore or self._pk_restore):
            return None
        entries: list[tuple[int, bytes | None]] = []
        for col_id, i, as_count, encode in plan.restore_columns:
            value = indexed[i]
            if as_count:
                entries.append((col_id, _uint_data(tail_space_count(value or b""))))
            else:
                entries.append((col_id, None if value is None else encode(value)))
        for col_id, offset, as_count in self._pk_restore:
            value = values[offset]
            length = self._pk_offsets[offset]
            in_index = plan.index_lengths.get(offset)
            if in_index is not None and length >= 0 and (in_index < 0 or in_index > length):
                length = in_index
            column = self.table.columns[offset]
            truncate = _truncator(column, length)
            if truncate is not None:
                value = truncate(value)
            if as_count:
                entries.append((col_id, _uint_data(tail_space_count(value or b""))))
            else:
                entries.append((col_id, value_encoder(column.ft)(value)))
        # Row format v2 sorts by column id; the first occurrence of an id wins a tie.
        entries.sort(key=lambda e: e[0])
        return assemble_row(
            [c for c, d in entries if d is not None],
            [d for _, d in entries if d is not None],
            [c for c, d in entries if d is None],
        )

    # --- per batch ----------------------------------------------------------------------------

    def encode_batch(self, batch: RowBatch, path: str) -> tuple[list[KVPair], KVChecksum]:
        """KV pairs of every row of a batch, and their checksum.

        Row IDs continue from ``auto_id_base`` by the row's position in the chunk (taken from
        ``batch.end.rows``). Conversion errors are re-raised naming the table, the column, the
        value and ``path:offset`` of the row.
        """
        layout = self._layout(batch.columns)
        converters = self._converters
        plan = [(offset, position, converters[offset]) for offset, position in layout]
        defaults = self._defaults
        first_row_id = self.auto_id_base + batch.end.rows - len(batch.rows) + 1
        last_row_id = first_row_id + len(batch.rows) - 1
        if last_row_id > self.max_row_id:
            self.max_row_id = last_row_id
        encode_one = self._encode_one
        pairs: list[KVPair] = []
        extend = pairs.extend
        checksum = 0
        size = 0
        crc = raw_crc64
        for index, row in enumerate(batch.rows):
            values = defaults.copy()
            try:
                for offset, position, convert in plan:
                    values[offset] = convert(row[position])
                row_pairs = encode_one(values, first_row_id + index)
            except EncodeError as exc:
                offset = batch.offsets[index] if index < len(batch.offsets) else -1
                raise EncodeError(
                    f"{path}:{offset}: table {self.table.qualified_name}: {exc}"
                ) from exc
            except IndexError:
                offset = batch.offsets[index] if index < len(batch.offsets) else -1
                raise EncodeError(
                    f"{path}:{offset}: table {self.table.qualified_name}: the row has "
                    f"{len(row)} values but the column list names {len(layout)}"
                ) from None
            for key, value in row_pairs:
                kv = key + value
                checksum ^= crc(kv)
                size += len(kv)
            extend(row_pairs)
        return pairs, KVChecksum(checksum, len(pairs), size)

    def encode_rows(self, rows: Sequence[Sequence[Any]], *, first_row_id: int = 1) -> list[KVPair]:
        """KV pairs of source rows in table column order (tests and tools)."""
        batch_rows = [tuple(r) for r in rows]
        from lightning_core.interfaces import ReadPosition

        batch = RowBatch(
            columns=None,
            rows=batch_rows,
            offsets=[0] * len(batch_rows),
            end=ReadPosition(offset=0, rows=first_row_id - 1 - self.auto_id_base + len(batch_rows)),
        )
        return self.encode_batch(batch, "<rows>")[0]


def _null_passing(convert: Callable[[Any], Any], auto: bool) -> Callable[[Any], Any]:
    """Let NULL through to an auto-increment / auto-random column: the encoder fills it."""
    if not auto:
        return convert
    return lambda value: None if value is None else convert(value)


def _uint_data(value: int) -> bytes:
    from lightning_core.kv.rowcodec import encode_uint_value

    return encode_uint_value(value)
