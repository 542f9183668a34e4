"""Rows → TiDB KV pairs: one record pair per row and one pair per stored index.

:class:`TableKVEncoder` precomputes, once per table, how each column is converted, stored in
the row value and encoded in each index key (a :class:`.plan.TablePlan`); per row it only runs
those closures, or a native kernel runs the same plan (``kv-native``). It writes
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
    bin_pad_key,
    collation_key_function,
    general_ci_key,
    tail_space_count,
)
from lightning_core.kv.memcomparable import (
    duration_nanos,
    encode_bytes,
    encode_decimal_payload,
    encode_float,
    encode_int,
)
from lightning_core.kv.mydecimal import MAX_SCALE
from lightning_core.kv.plan import (
    CollationKind,
    ConversionStep,
    IndexPlan,
    KeyColumn,
    KeyKind,
    Prefix,
    RestoreColumn,
    TablePlan,
    ValueColumn,
    ValueEncoder,
    ValueKind,
)
from lightning_core.kv.rowcodec import (
    assemble_row,
    encode_int_value,
    encode_string_value,
    encode_time_value,
    encode_uint_value,
    pack_time,
    value_encoder,
)
from lightning_core.schema.convert import (
    NO_DEFAULT,
    WarningCounter,
    datetime_text,
    make_converter,
    passthrough,
    row_defaults,
)
from lightning_core.schema.model import ColumnInfo, ColumnType, FieldType, IndexInfo, TableInfo

KVPair = tuple[bytes, bytes]

_INT64_SPAN = 1 << 64
_INT64_LIMIT = 1 << 63
_MASK64 = _INT64_SPAN - 1
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


def key_column(column: ColumnInfo, *, table: str = "", length: int = -1) -> KeyColumn:
    """How a value of ``column`` is encoded in a key, cut to a prefix of ``length`` if >= 0."""
    ft = column.ft
    tp = ft.tp
    pack = _INT_DATUM.pack
    prefix = _prefix(column, length)
    offset = column.offset
    if ft.is_integer and ft.unsigned:
        return KeyColumn(offset=offset, kind=KeyKind.UINT, encode=lambda v: pack(0x04, v))
    if ft.is_integer or tp == ColumnType.YEAR:
        return KeyColumn(
            offset=offset, kind=KeyKind.INT, encode=lambda v: pack(0x03, v + _INT64_LIMIT)
        )
    if tp in (ColumnType.ENUM, ColumnType.SET, ColumnType.BIT):
        return KeyColumn(offset=offset, kind=KeyKind.UINT, encode=lambda v: pack(0x04, v))
    if tp in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return KeyColumn(
            offset=offset, kind=KeyKind.FLOAT, encode=lambda v: b"\x05" + encode_float(v)
        )
    if tp == ColumnType.NEWDECIMAL:
        precision, frac = ft.flen, max(ft.decimal, 0)
        return KeyColumn(
            offset=offset,
            kind=KeyKind.DECIMAL if precision > 0 else KeyKind.OTHER,
            encode=lambda v: b"\x06" + encode_decimal_payload(v, precision, frac),
            decimal=(precision, min(frac, MAX_SCALE)) if precision > 0 else None,
        )
    if ft.is_string:
        where = f"{table}.`{column.name}`" if table else f"`{column.name}`"
        collate = collation_key_function(ft.collation, column=where)
        kind = CollationKind.BINARY
        if collate is bin_pad_key:
            kind = CollationKind.PAD_BIN
        elif collate is general_ci_key:
            kind = CollationKind.GENERAL_CI
        return KeyColumn(
            offset=offset,
            kind=KeyKind.BYTES,
            encode=lambda v: b"\x01" + encode_bytes(collate(v)),
            collation=kind,
            collate=collate,
            prefix=prefix,
        )
    if ft.is_time:
        return KeyColumn(
            offset=offset, kind=KeyKind.TIME, encode=lambda v: pack(0x04, pack_time(v))
        )
    if tp == ColumnType.DURATION:
        return KeyColumn(
            offset=offset,
            kind=KeyKind.OTHER,
            encode=lambda v: b"\x07" + encode_int(duration_nanos(v)),
        )
    raise EncodeError(
        f"column `{column.name}` of type {tp.name} cannot be part of an index key in the KV "
        "encoder; use the tidb backend for this table"
    )


def _prefix(column: ColumnInfo, length: int) -> Prefix | None:
    """Prefix-index truncation: characters for text, bytes for binary/ascii/latin1 strings."""
    if length < 0 or not column.ft.is_string:
        return None
    charset = column.ft.charset.lower()
    if charset in ("binary", "ascii", "latin1"):
        return Prefix(
            length=length,
            in_bytes=True,
            truncate=lambda v: v[:length] if v is not None and len(v) > length else v,
        )

    def truncate(v: Any) -> Any:
        if v is None or len(v) <= length:
            return v
        text = v.decode("utf-8", "surrogateescape")
        if len(text) <= length:
            return v
        return text[:length].encode("utf-8", "surrogateescape")

    return Prefix(length=length, in_bytes=False, truncate=truncate)


_VALUE_KINDS = {
    encode_int_value: ValueKind.INT,
    encode_uint_value: ValueKind.UINT,
    encode_float: ValueKind.FLOAT,
    encode_string_value: ValueKind.BYTES,
    encode_time_value: ValueKind.TIME,
}


def _value_kind(ft: FieldType, encode: ValueEncoder) -> tuple[ValueKind, tuple[int, int] | None]:
    """The kind of ``value_encoder(ft)``, and the ``(precision, scale)`` of a DECIMAL kind."""
    if ft.tp == ColumnType.NEWDECIMAL and ft.flen > 0:
        return ValueKind.DECIMAL, (ft.flen, max(ft.decimal, 0))
    return _VALUE_KINDS.get(encode, ValueKind.OTHER), None


def _index_plan(table: TableInfo, index: IndexInfo, pk_lengths: dict[int, int]) -> IndexPlan:
    """Key columns and restored-data layout of one stored index."""
    columns = [table.columns[c.offset] for c in index.columns]
    name = table.qualified_name
    key_columns = tuple(
        key_column(col, table=name, length=ic.length)
        for col, ic in zip(columns, index.columns, strict=True)
    )
    needs_restore = any(needs_restored_data(col.ft) for col in columns)
    restore: list[RestoreColumn] = []
    if table.is_common_handle:
        for i, col in enumerate(columns):
            if col.offset in pk_lengths or not needs_restored_data(col.ft):
                continue
            restore.append(_restore_column(col, from_row=False, position=i))
        # The handle's primary-key columns needing restored data follow, each cut to the
        # shorter of its primary-key prefix and its prefix in this index.
        in_index = {c.offset: c.length for c in index.columns}
        for offset, length in pk_lengths.items():
            col = table.columns[offset]
            if not needs_restored_data(col.ft):
                continue
            here = in_index.get(offset)
            if here is not None and length >= 0 and (here < 0 or here > length):
                length = here
            restore.append(_restore_column(col, from_row=True, position=offset, length=length))
        needs_restore = needs_restore or bool(restore)
    elif needs_restore:
        for i, col in enumerate(columns):
            restore.append(_restore_column(col, from_row=False, position=i, as_count=False))
    # Row format v2 sorts by column id; sorted() is stable, so the first of equal ids stays first.
    restore.sort(key=lambda r: r.column_id)
    return IndexPlan(
        prefix=keys.index_prefix(table.id, index.id),
        unique=index.unique,
        columns=key_columns,
        restore=tuple(restore) if needs_restore else None,
    )


def _restore_column(
    col: ColumnInfo,
    *,
    from_row: bool,
    position: int,
    length: int = -1,
    as_count: bool | None = None,
) -> RestoreColumn:
    encode = value_encoder(col.ft)
    kind, decimal = _value_kind(col.ft, encode)
    return RestoreColumn(
        column_id=col.id,
        from_row=from_row,
        position=position,
        as_count=col.ft.collation in BIN_COLLATIONS if as_count is None else as_count,
        kind=kind,
        encode=encode,
        prefix=_prefix(col, length) if from_row else None,
        decimal=decimal,
    )


class RowFailure(Exception):
    """Raised by :meth:`TableKVEncoder.encode_rows_with`: row ``index`` of the batch failed."""

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(index, cause)
        self.index = index
        self.cause = cause


#: What the per-batch work returns: pairs, XOR of their CRCs, their bytes, the largest explicit
#: auto-increment value seen (0 if none).
BatchResult = tuple[list[KVPair], int, int, int]


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

    The per-table work is prepared once as :attr:`plan` (a :class:`.plan.TablePlan`); a
    subclass may run it natively by overriding :meth:`encode_rows_with`.
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
        self.defaults = list(row_defaults(table, sql_mode=sql_mode, time_zone=time_zone, now=now))
        """Each column's value when the source does not give it, by offset."""
        self._converters = [
            _null_passing(
                make_converter(
                    table, c, sql_mode=sql_mode, time_zone=time_zone, warnings=self.warnings
                ),
                c.auto_increment or bool(c.auto_random_bits),
            )
            for c in table.columns
        ]
        self._passthroughs = [
            None if c.auto_increment or c.auto_random_bits else passthrough(c.ft)
            for c in table.columns
        ]
        self._steps: dict[tuple[str, ...] | None, tuple[ConversionStep, ...]] = {}
        for index in table.stored_indexes:
            for ic in index.columns:
                if table.columns[ic.offset].is_generated:
                    raise EncodeError(
                        f"index `{index.name}` of table {name} covers the generated column "
                        f"`{table.columns[ic.offset].name}`; use the tidb backend for this table"
                    )
        self.plan = self._table_plan()
        """The prepared per-row work."""
        self._encode_one = self._compile()

    # --- per table ----------------------------------------------------------------------------

    def _table_plan(self) -> TablePlan:
        table = self.table
        handle_column = table.handle_column
        handle_offset = handle_column.offset if handle_column is not None else -1
        pk_lengths: dict[int, int] = {}
        pk_columns: list[KeyColumn] = []
        if table.is_common_handle:
            pk = table.primary_index
            if pk is None:
                raise EncodeError(
                    f"table {table.qualified_name} is clustered but has no primary key"
                )
            for ic in pk.columns:
                pk_lengths[ic.offset] = ic.length
                pk_columns.append(
                    key_column(
                        table.columns[ic.offset], table=table.qualified_name, length=ic.length
                    )
                )
        auto_inc = next((c.offset for c in table.columns if c.auto_increment), -1)
        auto_random = next((c.offset for c in table.columns if c.auto_random_bits), -1)
        bits = table.shard_row_id_bits if handle_offset < 0 else 0
        if table.auto_random_bits and auto_random >= 0:
            bits = table.auto_random_bits
        return TablePlan(
            record_prefix=keys.record_prefix(table.id),
            common_handle=table.is_common_handle,
            handle_offset=handle_offset,
            handle_unsigned=bool(handle_column and handle_column.ft.unsigned),
            pk_columns=tuple(pk_columns),
            row_columns=self._row_columns(handle_offset, pk_lengths),
            indexes=tuple(_index_plan(table, i, pk_lengths) for i in table.stored_indexes),
            auto_increment_offset=auto_inc,
            auto_random_offset=auto_random,
            shard_bits=bits,
            shard_seed=self.shard_seed,
        )

    def _row_columns(
        self, handle_offset: int, pk_lengths: dict[int, int]
    ) -> tuple[ValueColumn, ...]:
        columns: list[ValueColumn] = []
        for column in sorted(self.table.columns, key=lambda c: c.id):
            if column.offset == handle_offset:
                continue
            if column.is_generated:  # virtual (stored ones were refused)
                continue
            cut = pk_lengths.get(column.offset)
            if cut is not None and cut < 0 and not needs_restored_data(column.ft):
                continue  # the clustered key restores it
            encode = value_encoder(column.ft)
            kind, decimal = _value_kind(column.ft, encode)
            columns.append(
                ValueColumn(
                    column_id=column.id,
                    offset=column.offset,
                    kind=kind,
                    encode=encode,
                    null_default=column.default is None and column.default_expr is None,
                    decimal=decimal,
                )
            )
        return tuple(columns)

    def conversion_steps(self, names: tuple[str, ...] | None) -> tuple[ConversionStep, ...]:
        """How the values of a source row with the column list ``names`` are converted.

        :raises EncodeError: a column is named twice, or a NOT NULL column without a default
            is missing.
        """
        steps = self._steps.get(names)
        if steps is not None:
            return steps
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
            if column.offset not in provided and self.defaults[column.offset] is NO_DEFAULT:
                raise EncodeError(
                    f"table {self.table.qualified_name}: column `{column.name}` is NOT NULL "
                    "without a default and the source does not provide it; add it to the "
                    "data or give it a DEFAULT"
                )
        steps = tuple(
            ConversionStep(
                offset=offset,
                position=position,
                convert=self._converters[offset],
                passthrough=self._passthroughs[offset],
                datetime_text=datetime_text(self.table.columns[offset].ft),
            )
            for offset, position in layout
        )
        self._steps[names] = steps
        return steps

    # --- per row ------------------------------------------------------------------------------

    def _shard(self, row_id: int) -> int:
        bits = self.plan.shard_bits
        if not bits:
            return row_id
        mixed = ((row_id + self.shard_seed) * 0x9E3779B97F4A7C15) & (_INT64_SPAN - 1)
        shard = (mixed >> 32) & ((1 << bits) - 1)
        return row_id | (shard << (63 - bits))

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
        plan = self.plan
        record_prefix = plan.record_prefix
        row_columns = [(c.column_id, c.offset, c.encode, c.null_default) for c in plan.row_columns]
        index_functions = [_compile_index(i, common=plan.common_handle) for i in plan.indexes]
        handle_offset = plan.handle_offset
        handle_unsigned = plan.handle_unsigned
        pk_encoders = [
            (c.offset, c.encode, c.prefix.truncate if c.prefix else None) for c in plan.pk_columns
        ]
        auto_inc = plan.auto_increment_offset
        auto_random = plan.auto_random_offset
        shard = self._shard
        pack_int = _U64BE.pack
        join = b"".join

        def encode(values: list[Any], row_id: int) -> list[KVPair]:
            if auto_inc >= 0:
                current = values[auto_inc]
                if current is None:
                    values[auto_inc] = row_id
                elif current > self.max_row_id:
                    self.max_row_id = current
            if auto_random >= 0 and values[auto_random] is None:
                values[auto_random] = shard(row_id)
            if handle_offset >= 0:
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

    # --- per batch ----------------------------------------------------------------------------

    def encode_batch(self, batch: RowBatch, path: str) -> tuple[list[KVPair], KVChecksum]:
        """KV pairs of every row of a batch, and their checksum.

        Row IDs continue from ``auto_id_base`` by the row's position in the chunk (taken from
        ``batch.end.rows``). Conversion errors are re-raised naming the table, the column, the
        value and ``path:offset`` of the row.
        """
        steps = self.conversion_steps(batch.columns)
        first_row_id = self.auto_id_base + batch.end.rows - len(batch.rows) + 1
        last_row_id = first_row_id + len(batch.rows) - 1
        if last_row_id > self.max_row_id:
            self.max_row_id = last_row_id
        try:
            pairs, checksum, size, max_auto = self.encode_rows_with(batch.rows, steps, first_row_id)
        except RowFailure as failure:
            index = failure.index
            offset = batch.offsets[index] if index < len(batch.offsets) else -1
            where = f"{path}:{offset}: table {self.table.qualified_name}"
            if isinstance(failure.cause, IndexError):
                raise EncodeError(
                    f"{where}: the row has {len(batch.rows[index])} values but the column "
                    f"list names {len(steps)}"
                ) from None
            raise EncodeError(f"{where}: {failure.cause}") from failure.cause
        if max_auto > self.max_row_id:
            self.max_row_id = max_auto
        return pairs, KVChecksum(checksum, len(pairs), size)

    def encode_rows_with(
        self, rows: Sequence[Sequence[Any]], steps: tuple[ConversionStep, ...], first_row_id: int
    ) -> BatchResult:
        """Convert and encode source rows (row ``i`` gets row ID ``first_row_id + i``).

        The hot loop of :meth:`encode_batch`, which native subclasses replace.

        :raises RowFailure: a row's values failed to convert (an :class:`EncodeError`) or are
            fewer than ``steps`` name (an :class:`IndexError`).
        """
        plan = [(s.offset, s.position, s.convert) for s in steps]
        defaults = self.defaults
        encode_one = self._encode_one
        before = self.max_row_id
        pairs: list[KVPair] = []
        extend = pairs.extend
        checksum = 0
        size = 0
        crc = raw_crc64
        for index, row in enumerate(rows):
            values = defaults.copy()
            try:
                for offset, position, convert in plan:
                    values[offset] = convert(row[position])
                row_pairs = encode_one(values, first_row_id + index)
            except (EncodeError, IndexError) as exc:
                raise RowFailure(index, exc) from exc
            for key, value in row_pairs:
                kv = key + value
                checksum ^= crc(kv)
                size += len(kv)
            extend(row_pairs)
        max_auto = self.max_row_id if self.max_row_id > before else 0
        return pairs, checksum, size, max_auto

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


IndexFunction = Callable[[list[Any], Any, bytes], KVPair]
_COMMON_VALUE_HEAD = b"\x00\x7d\x01"


def _compile_index(plan: IndexPlan, *, common: bool) -> IndexFunction:
    """The function producing one index's pair: ``f(values, handle, handle_encoded)``."""
    prefix = plan.prefix
    non_unique = keys.NON_UNIQUE_INDEX_VALUE
    if len(plan.columns) == 1 and plan.columns[0].prefix is None and not (plan.restore or common):
        # the common case, one plain column of an int-handle table: no lists, no joins
        offset = plan.columns[0].offset
        encode_key = plan.columns[0].encode
        null_key = prefix + b"\x00\x03"
        pack_handle = _U64BE.pack

        if plan.unique:

            def unique_pair(values: list[Any], handle: Any, encoded: bytes) -> KVPair:
                value = values[offset]
                if value is None:
                    return null_key + encoded, non_unique
                return prefix + encode_key(value), pack_handle(handle & _MASK64)

            return unique_pair

        def pair(values: list[Any], handle: Any, encoded: bytes) -> KVPair:
            value = values[offset]
            if value is None:
                return null_key + encoded, non_unique
            return prefix + encode_key(value) + b"\x03" + encoded, non_unique

        return pair

    columns = [(c.offset, c.encode, c.prefix.truncate if c.prefix else None) for c in plan.columns]
    truncating = any(t is not None for _, _, t in columns)
    offsets = [offset for offset, _, _ in columns]
    encoders = [encode for _, encode, _ in columns]
    unique = plan.unique
    restored = _restored_function(plan.restore) if plan.restore is not None else None
    int_value = keys.encode_index_value_int_handle
    common_value = keys.encode_index_value_common_handle
    join = b"".join

    if not (truncating or restored is not None or common):
        # several plain columns of an int-handle table: one pass, no intermediate lists
        steps = list(zip(offsets, encoders, strict=True))
        pack_handle = _U64BE.pack

        def plain_pair(values: list[Any], handle: Any, encoded: bytes) -> KVPair:
            parts = [prefix]
            append = parts.append
            distinct = unique
            for offset, encode in steps:
                value = values[offset]
                if value is None:
                    distinct = False
                    append(b"\x00")
                else:
                    append(encode(value))
            if distinct:
                return join(parts), pack_handle(handle & _MASK64)
            append(b"\x03" + encoded)
            return join(parts), non_unique

        return plain_pair

    def generic_pair(values: list[Any], handle: Any, encoded: bytes) -> KVPair:
        if truncating:
            indexed = [t(values[o]) if t else values[o] for o, _, t in columns]
        else:
            indexed = [values[o] for o in offsets]
        distinct = unique and None not in indexed
        parts = [prefix]
        parts += [
            b"\x00" if v is None else enc(v) for enc, v in zip(encoders, indexed, strict=True)
        ]
        if not distinct:
            parts.append(encoded if common else b"\x03" + encoded)
        data = restored(values, indexed) if restored is not None else None
        if common:
            return join(parts), common_value(
                distinct=distinct, handle_encoded=encoded, restored=data
            )
        return join(parts), int_value(distinct=distinct, handle=handle, restored=data)

    return generic_pair


def _restored_function(
    restore: tuple[RestoreColumn, ...],
) -> Callable[[list[Any], list[Any]], bytes]:
    """``f(row values, index values)``: the restored-data row of an index value."""
    entries = [
        (
            r.column_id,
            r.from_row,
            r.position,
            r.as_count,
            r.encode,
            r.prefix.truncate if r.prefix else None,
        )
        for r in restore
    ]

    def restored(values: list[Any], indexed: list[Any]) -> bytes:
        not_null: list[int] = []
        datas: list[bytes] = []
        nulls: list[int] = []
        for col_id, from_row, position, as_count, encode, truncate in entries:
            if from_row:
                value = values[position]
                if truncate is not None:
                    value = truncate(value)
            else:
                value = indexed[position]
            if as_count:
                not_null.append(col_id)
                datas.append(encode_uint_value(tail_space_count(value or b"")))
            elif value is None:
                nulls.append(col_id)
            else:
                not_null.append(col_id)
                datas.append(encode(value))
        return assemble_row(not_null, datas, nulls)

    return restored


def _null_passing(convert: Callable[[Any], Any], auto: bool) -> Callable[[Any], Any]:
    """Let NULL through to an auto-increment / auto-random column: the encoder fills it."""
    if not auto:
        return convert
    return lambda value: None if value is None else convert(value)
