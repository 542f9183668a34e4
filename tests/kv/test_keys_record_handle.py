"""decode_record_key refuses what TiDB refuses: an int handle key with bytes after it."""

from __future__ import annotations

import pytest

from lightning_core.errors import EncodeError
from lightning_core.kv import keys


def test_int_and_common_handles_decode() -> None:
    assert keys.decode_record_key(keys.encode_record_key(5, -7)) == (5, -7)
    handle = keys.encode_common_handle([b"ab", 3])
    key = keys.encode_common_handle_record_key(5, handle)
    assert keys.decode_record_key(key) == (5, handle)


@pytest.mark.parametrize("tail", [b"x", b"\x03", b"\x01ab"])
def test_int_handle_key_with_trailing_bytes_is_refused(tail: bytes) -> None:
    key = keys.encode_record_key(5, 7) + tail
    with pytest.raises(EncodeError, match="invalid record key"):
        keys.decode_record_key(key)


def test_short_record_key_is_refused() -> None:
    with pytest.raises(EncodeError, match="invalid record key"):
        keys.decode_record_key(keys.encode_record_key(5, 7)[:15])
