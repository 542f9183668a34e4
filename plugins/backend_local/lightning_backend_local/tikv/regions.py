"""Key ranges, regions and the planning between them: where a range must be split, and how a
range is cut along the regions that hold it.

Engine keys are raw TiDB keys; PD and TiKV bound regions by their memcomparable encoding
(``encode_bytes``), which keeps the order, so a raw key is placed by encoding it."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

import attrs

from lightning_core import TargetError, decode_bytes, encode_bytes


@attrs.frozen(order=True)
class KeyRange:
    """Raw keys ``start <= key < end``."""

    start: bytes
    end: bytes

    def __attrs_post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"empty key range [{self.start.hex()}, {self.end.hex()})")

    def describe(self) -> str:
        """``[start, end)`` in hex, for messages."""
        return f"[{self.start.hex()}, {self.end.hex()})"


@attrs.frozen
class Peer:
    """A replica of a region on one store."""

    id: int
    store_id: int


@attrs.frozen(kw_only=True)
class Region:
    """A region as PD or TiKV describes it; ``start`` / ``end`` are encoded keys (an empty
    ``end`` is +inf)."""

    id: int
    start: bytes
    end: bytes
    conf_ver: int
    version: int
    peers: tuple[Peer, ...]
    leader: Peer | None = None
    """None when PD or the error that carried the region did not say."""

    def holds(self, encoded: bytes) -> bool:
        """True when the encoded key lies in the region."""
        return self.start <= encoded and (not self.end or encoded < self.end)

    def with_leader(self, leader: Peer | None) -> Region:
        """This region led by ``leader``."""
        return attrs.evolve(self, leader=leader)

    def peer_on(self, store_id: int) -> Peer | None:
        """The region's peer on ``store_id``, if it has one."""
        return next((p for p in self.peers if p.store_id == store_id), None)

    def raw_bounds(self) -> tuple[bytes, bytes | None]:
        """The raw keys that bound the region (None: no upper bound)."""
        return _raw(self.start, self.id), (_raw(self.end, self.id) if self.end else None)

    def describe(self) -> str:
        """``region N (epoch conf_ver/version)``, for messages."""
        return f"region {self.id} (epoch {self.conf_ver}/{self.version})"


def _raw(encoded: bytes, region_id: int) -> bytes:
    if not encoded:
        return b""
    try:
        raw, used = decode_bytes(encoded)
    except Exception as exc:  # the codec raises its own error type
        raise TargetError(
            f"region {region_id} is bounded by {encoded.hex()}, which is not a memcomparable "
            "key: this cluster holds keys tidb-lightning did not write; import into a "
            "TiDB cluster"
        ) from exc
    if used != len(encoded):
        # a bound with a timestamp suffix: it still sorts right after the raw key
        return raw + b"\x00"
    return raw


def split_keys(boundaries: Iterable[bytes], regions: Sequence[Region]) -> dict[int, list[bytes]]:
    """Region ID → the raw ``boundaries`` that fall strictly inside that region (a boundary
    that already starts a region needs no split), sorted; ``regions`` sorted and contiguous."""
    starts = [r.start for r in regions]
    found: dict[int, list[bytes]] = {}
    for key in sorted(set(boundaries)):
        encoded = encode_bytes(key)
        at = bisect.bisect_right(starts, encoded) - 1
        if at < 0 or not regions[at].holds(encoded) or regions[at].start == encoded:
            continue
        found.setdefault(regions[at].id, []).append(key)
    return found


def cut_along(part: KeyRange, regions: Iterable[Region]) -> list[tuple[KeyRange, Region | None]]:
    """``part`` cut where ``regions`` bound it: each piece with the region that holds it, or
    None where no region of ``regions`` covers it (the pieces cover ``part`` exactly)."""
    pieces: list[tuple[KeyRange, Region | None]] = []
    cursor = part.start
    for region in sorted(regions, key=lambda r: r.start):
        low, high = region.raw_bounds()
        start = max(cursor, low)
        end = part.end if high is None else min(part.end, high)
        if start >= end:
            continue
        if start > cursor:
            pieces.append((KeyRange(cursor, start), None))
        pieces.append((KeyRange(start, end), region))
        cursor = end
        if cursor >= part.end:
            break
    if cursor < part.end:
        pieces.append((KeyRange(cursor, part.end), None))
    return pieces
