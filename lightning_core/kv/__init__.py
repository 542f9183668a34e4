"""TiDB's key and row codec and Lightning's KV checksum, shared by the KV backends.

Everything here writes bytes exactly as TiDB does (see ``docs/kv-codec.md``):
:mod:`.memcomparable` (datums), :mod:`.keys` (record/index keys and index values),
:mod:`.rowcodec` (row format v2), :mod:`.mydecimal`, :mod:`.jsonbinary`, :mod:`.collation`,
:mod:`.checksum`, and :mod:`.encoder` / :mod:`.decoder` for whole rows.
"""

from lightning_core.kv.checksum import KVChecksum, crc64
from lightning_core.kv.decoder import TableKVDecoder
from lightning_core.kv.encoder import TableKVEncoder
from lightning_core.kv.keys import (
    decode_index_key,
    decode_index_value,
    decode_record_key,
    encode_common_handle,
    encode_common_handle_record_key,
    encode_index_key,
    encode_record_key,
    index_prefix,
    record_prefix,
    table_prefix,
)
from lightning_core.kv.rowcodec import decode_row, encode_row

__all__ = [
    "KVChecksum",
    "TableKVDecoder",
    "TableKVEncoder",
    "crc64",
    "decode_index_key",
    "decode_index_value",
    "decode_record_key",
    "decode_row",
    "encode_common_handle",
    "encode_common_handle_record_key",
    "encode_index_key",
    "encode_record_key",
    "encode_row",
    "index_prefix",
    "record_prefix",
    "table_prefix",
]
