"""KV checksum: the CRC-64/XZ check value, native vs pure Python, combination properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lightning_core.kv.checksum import KVChecksum, crc64, crc64_python, pair_crc

PAIRS = st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=60)), max_size=20)


def test_check_values() -> None:
    # RevEng's CRC-64/XZ (= Go's crc64 with the ECMA table) check value.
    assert crc64(b"123456789", 0) == 0x995DC9BBDF1939FA
    assert crc64_python(b"123456789") == 0x995DC9BBDF1939FA
    assert crc64(b"", 0) == 0


@given(st.binary(max_size=200), st.binary(max_size=50))
def test_python_matches_native_and_continues(data: bytes, more: bytes) -> None:
    assert crc64_python(data) == crc64(data, 0)
    assert crc64_python(more, crc64_python(data)) == crc64(data + more, 0)
    assert pair_crc(data, more) == crc64(data + more, 0)


@given(PAIRS, st.randoms())
def test_order_independent_and_combinable(pairs: list[tuple[bytes, bytes]], rnd: object) -> None:
    whole = KVChecksum()
    whole.update(pairs)
    shuffled = list(pairs)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    cut = len(shuffled) // 2
    first, second = KVChecksum(), KVChecksum()
    first.update(shuffled[:cut])
    for key, value in shuffled[cut:]:
        second.update_one(key, value)
    combined = first.copy()
    combined.add(second)
    assert combined == whole
    assert whole.total_kvs == len(pairs)
    assert whole.total_bytes == sum(len(k) + len(v) for k, v in pairs)


def test_known_small_set() -> None:
    checksum = KVChecksum()
    checksum.update([(b"123", b"456789")])
    assert checksum == KVChecksum(0x995DC9BBDF1939FA, 1, 9)
