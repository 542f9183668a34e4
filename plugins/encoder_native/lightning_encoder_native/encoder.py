""":class:`NativeTableKVEncoder`: ``TableKVEncoder`` with its row loop in C.

Everything per table (conversions, handle, row columns, index layouts) is prepared by the core
encoder as a :class:`~lightning_core.KVTablePlan`; this module only flattens that plan into the
tuples the C kernel reads, and hands it each batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from lightning_core import (
    ConversionStep,
    EncodeError,
    KeyColumn,
    KVTablePlan,
    MysqlTime,
    RestoreColumn,
    RowFailure,
    TableKVEncoder,
    general_ci_weight_table,
)
from lightning_encoder_native._kernel import Kernel

#: Passthrough text rules as the kernel numbers them (P_* in _kernel.c).
_TEXT_RULES = {"binary": 2, "utf8": 3, "utf8mb3": 4, "ascii": 5}
_INT_RULE = 1
_DECIMAL_RULE = 6


class NativeTableKVEncoder(TableKVEncoder):
    """A :class:`~lightning_core.TableKVEncoder` whose per-row work runs in the C kernel.

    Same constructor, same :meth:`encode_batch`, same bytes and checksums.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kernel = Kernel(_flat_plan(self.plan))
        self._flat_steps: dict[tuple[ConversionStep, ...], tuple[tuple[Any, ...], ...]] = {}

    def encode_rows_with(
        self, rows: Sequence[Sequence[Any]], steps: tuple[ConversionStep, ...], first_row_id: int
    ) -> tuple[list[tuple[bytes, bytes]], int, int, int]:
        """The core encoder's batch loop, run by the kernel."""
        flat = self._flat_steps.get(steps)
        if flat is None:
            flat = self._flat_steps[steps] = tuple(_flat_step(s) for s in steps)
        return self._kernel.encode(rows, flat, self.defaults, first_row_id)


def _flat_plan(plan: KVTablePlan) -> tuple[Any, ...]:
    return (
        plan.record_prefix,
        int(plan.common_handle),
        plan.handle_offset,
        int(plan.handle_unsigned),
        tuple(_flat_key(c) for c in plan.pk_columns),
        tuple(
            (c.column_id, c.offset, int(c.kind), c.encode, int(c.null_default), *_layout(c.decimal))
            for c in plan.row_columns
        ),
        tuple(
            (
                index.prefix,
                int(index.unique),
                tuple(_flat_key(c) for c in index.columns),
                None if index.restore is None else tuple(_flat_restore(r) for r in index.restore),
            )
            for index in plan.indexes
        ),
        plan.auto_increment_offset,
        plan.auto_random_offset,
        plan.shard_bits,
        plan.shard_seed % (1 << 64),
        RowFailure,
        EncodeError,
        Decimal,
        MysqlTime,
        general_ci_weight_table(),
    )


def _layout(decimal: tuple[int, int] | None) -> tuple[int, int]:
    return decimal if decimal is not None else (0, 0)


def _flat_key(column: KeyColumn) -> tuple[Any, ...]:
    prefix = column.prefix
    return (
        column.offset,
        int(column.kind),
        column.encode,
        int(column.collation),
        column.collate,
        prefix.length if prefix else -1,
        int(prefix.in_bytes) if prefix else 0,
        prefix.truncate if prefix else None,
        *_layout(column.decimal),
    )


def _flat_restore(column: RestoreColumn) -> tuple[Any, ...]:
    prefix = column.prefix
    return (
        column.column_id,
        int(column.from_row),
        column.position,
        int(column.as_count),
        int(column.kind),
        column.encode,
        prefix.length if prefix else -1,
        int(prefix.in_bytes) if prefix else 0,
        prefix.truncate if prefix else None,
        *_layout(column.decimal),
    )


def _flat_step(step: ConversionStep) -> tuple[Any, ...]:
    """(offset, position, convert, rule, low, high, max_chars, max_bytes, min_bytes, no_space,
    precision, scale, unsigned, datetime) as _kernel.c's parse_steps reads it."""
    rule = step.passthrough
    code, low, high, max_chars, max_bytes, min_bytes, no_space = 0, 0, 0, -1, -1, 0, 0
    precision, scale, unsigned = 0, 0, 0
    if rule is not None and rule.int_range is not None:
        code = _INT_RULE
        low, high = rule.int_range
    elif rule is not None and rule.decimal is not None:
        code = _DECIMAL_RULE
        precision, scale, is_unsigned = rule.decimal
        unsigned = int(is_unsigned)
    elif rule is not None and rule.text is not None:
        code = _TEXT_RULES[rule.text]
        max_chars, max_bytes, min_bytes = rule.max_chars, rule.max_bytes, rule.min_bytes
        no_space = int(rule.no_trailing_space)
    shortcut = step.datetime_text
    datetime = 0 if shortcut is None else 2 if shortcut.date_only else 1
    return (
        step.offset,
        step.position,
        step.convert,
        code,
        low,
        high,
        max_chars,
        max_bytes,
        min_bytes,
        no_space,
        precision,
        scale,
        unsigned,
        datetime,
    )
