"""Hook implementations of the native encoder distribution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core import EncoderRecord, hookimpl


def _encoder(*args: Any, **kwargs: Any) -> Any:
    from lightning_encoder_native.encoder import NativeTableKVEncoder

    return NativeTableKVEncoder(*args, **kwargs)


@hookimpl
def lightning_register_encoders() -> Iterable[EncoderRecord]:
    """The ``kv-native`` encoder (the ``kv`` encoder's bytes, from a C row loop)."""
    return [
        EncoderRecord(
            name="kv-native",
            factory=_encoder,
            description=(
                "TiDB KV pairs as the kv encoder writes them, encoded by a C kernel; "
                "factory(table=TableInfo, sql_mode=..., time_zone=..., auto_id_base=...)"
            ),
        )
    ]
