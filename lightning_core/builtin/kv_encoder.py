"""Built-in ``kv`` encoder: rows → TiDB KV pairs, for the local and importer backends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core._markers import hookimpl
from lightning_core.registry import EncoderRecord


def _kv_encoder(**kwargs: Any) -> Any:
    from lightning_core.kv.encoder import TableKVEncoder

    return TableKVEncoder(**kwargs)


@hookimpl
def lightning_register_encoders() -> Iterable[EncoderRecord]:
    """The TiDB KV encoder (record and index pairs in TiDB's byte layout, with checksums)."""
    return [
        EncoderRecord(
            name="kv",
            factory=_kv_encoder,
            description=(
                "TiDB KV pairs: row format v2 records and index entries with new collations; "
                "factory(table=TableInfo, sql_mode=..., time_zone=..., auto_id_base=...)"
            ),
        )
    ]
