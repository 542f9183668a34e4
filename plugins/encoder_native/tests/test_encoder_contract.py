"""The ``kv-native`` encoder against the core's ``KVEncoderContract`` (as ``kv`` in tests/kv)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lightning_core import Encoder, ReadPosition, RowBatch, parse_create_table
from lightning_core.testing.contracts import KVEncoderContract, registry_with

DDL = """CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer VARCHAR(40) NOT NULL,
  amount DECIMAL(12,2),
  note TEXT,
  PRIMARY KEY (id) NONCLUSTERED,
  UNIQUE KEY (customer, id),
  KEY (amount)
)"""


class TestNativeEncoder(KVEncoderContract):
    @pytest.fixture
    def make_encoder(self) -> Callable[[], Encoder[object]]:
        table = parse_create_table(DDL, table_id=42, schema="shop")
        record = registry_with().get("encoder", "kv-native")
        return lambda: record.factory(table=table, sql_mode="STRICT_TRANS_TABLES")

    @pytest.fixture
    def batches(self) -> tuple[list[RowBatch], str]:
        batches = []
        for start in range(0, 300, 60):
            rows = [
                (i, f"customer {i % 17}".encode(), f"{i}.25".encode(), None if i % 3 else b"n")
                for i in range(start, start + 60)
            ]
            batches.append(
                RowBatch(
                    columns=("id", "customer", "amount", "note"),
                    rows=rows,
                    offsets=list(range(start, start + 60)),
                    end=ReadPosition(offset=start + 60, rows=start + 60),
                )
            )
        return batches, "orders.sql"
