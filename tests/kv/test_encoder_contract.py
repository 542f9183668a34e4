"""The built-in ``kv`` encoder against the core's ``KVEncoderContract``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lightning_core import Encoder, ReadPosition, RowBatch
from lightning_core.plugins import load_plugins
from lightning_core.schema.ddl import parse_create_table
from lightning_core.testing.contracts import KVEncoderContract

DDL = """CREATE TABLE orders (
  id BIGINT NOT NULL AUTO_INCREMENT,
  customer VARCHAR(40) NOT NULL,
  amount DECIMAL(12,2),
  note TEXT,
  PRIMARY KEY (id) NONCLUSTERED,
  UNIQUE KEY (customer, id),
  KEY (amount)
)"""


class TestKVEncoder(KVEncoderContract):
    @pytest.fixture
    def make_encoder(self) -> Callable[[], Encoder[object]]:
        table = parse_create_table(DDL, table_id=42, schema="shop")
        record = load_plugins().registry.get("encoder", "kv")
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
