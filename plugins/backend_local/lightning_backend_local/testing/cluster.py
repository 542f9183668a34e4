"""The state the PD and TiKV doubles share: stores, regions with epochs, peers and leaders,
scatter operators and the TSO.

Everything here is PD's view and every store's view at once (the double has no replication
lag): a split done through one store is visible to PD and to every other store as soon as the
call returns. All keys are in the form PD and metapb use, memcomparable-encoded (``EncodeBytes``
of the raw key), except where a name says ``raw``.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterable, Sequence

import attrs

from lightning_backend_local.kvproto import metapb_pb2
from lightning_core import EncodeError
from lightning_core.kv.memcomparable import decode_bytes, encode_bytes

MAX_REPLICAS = 3
"""Peers per region, as PD's default ``max-replicas``."""
SCATTER_DESCRIPTION = b"scatter-region"
TSO_LOGICAL_BITS = 18


class SplitRefused(Exception):
    """A split TiKV would refuse; ``key`` is set when a key lies outside the region."""

    def __init__(self, message: str, *, key: bytes | None = None) -> None:
        super().__init__(message)
        self.key = key


@attrs.define(kw_only=True)
class Region:
    """One region: ``[start, end)`` of encoded keys (an empty ``end`` is +inf)."""

    id: int
    start: bytes
    end: bytes
    conf_ver: int
    version: int
    peers: list[metapb_pb2.Peer]
    leader_store: int

    def contains(self, key: bytes) -> bool:
        """Whether encoded ``key`` lies in the region."""
        return self.start <= key and (not self.end or key < self.end)

    def overlaps(self, start: bytes, end: bytes) -> bool:
        """Whether the region meets encoded ``[start, end)`` (an empty ``end`` is +inf)."""
        return (not end or self.start < end) and (not self.end or start < self.end)

    def peer_on(self, store_id: int) -> metapb_pb2.Peer | None:
        """The region's peer on ``store_id``, or None."""
        return next((p for p in self.peers if p.store_id == store_id), None)

    @property
    def leader(self) -> metapb_pb2.Peer:
        """The leader peer."""
        peer = self.peer_on(self.leader_store)
        assert peer is not None, "the leader store always holds a peer"
        return peer

    def epoch(self) -> metapb_pb2.RegionEpoch:
        """The region's epoch as metapb has it."""
        return metapb_pb2.RegionEpoch(conf_ver=self.conf_ver, version=self.version)

    def meta(self) -> metapb_pb2.Region:
        """The region as metapb has it."""
        return metapb_pb2.Region(
            id=self.id,
            start_key=self.start,
            end_key=self.end,
            region_epoch=self.epoch(),
            peers=[metapb_pb2.Peer(id=p.id, store_id=p.store_id) for p in self.peers],
        )


@attrs.define(kw_only=True)
class ScatterOperator:
    """A scatter operator PD reports as RUNNING for ``polls_left`` more GetOperator calls."""

    polls_left: int


@attrs.frozen(kw_only=True)
class StoreInfo:
    """A store as PD lists it."""

    id: int
    address: str


class Cluster:
    """PD's bookkeeping of a cluster of ``store_count`` stores, shared by the gRPC doubles.

    :param cluster_id: the id every PD request header must carry (random when None).
    :param scatter_polls: how many GetOperator calls report a scatter as RUNNING.
    :param seed: seeds the placement choices of scatters (store choice, leader).
    """

    def __init__(
        self,
        *,
        store_count: int,
        cluster_id: int | None = None,
        scatter_polls: int = 2,
        seed: int = 0,
    ) -> None:
        if store_count < 1:
            raise ValueError("a cluster needs at least one store")
        self.lock = threading.RLock()
        self._random = random.Random(seed)
        self.cluster_id = cluster_id or random.SystemRandom().randrange(1 << 60, 1 << 63)
        self.scatter_polls = scatter_polls
        self.store_ids = list(range(1, store_count + 1))
        self.stores: dict[int, StoreInfo] = {}
        self._next_id = 1000
        self._regions: dict[int, Region] = {}
        self._operators: dict[int, ScatterOperator] = {}
        self._tso_physical = 0
        self._tso_logical = 0
        first = self._new_region(
            start=b"", end=b"", stores=self.store_ids[:MAX_REPLICAS], conf_ver=1, version=1
        )
        self._regions[first.id] = first

    # --- ids, stores and time -----------------------------------------------------------------

    def _allocate_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def set_store_address(self, store_id: int, address: str) -> None:
        """Record where store ``store_id`` serves (known once its server is bound)."""
        with self.lock:
            self.stores[store_id] = StoreInfo(id=store_id, address=address)

    def change_cluster_id(self) -> int:
        """Give the cluster a new id (as if PD were rebuilt); the new id."""
        with self.lock:
            self.cluster_id += 1
            return self.cluster_id

    def allocate_timestamps(self, count: int) -> tuple[int, int]:
        """Reserve ``count`` timestamps; the (physical ms, logical) of the largest, as PD's
        Tso answers. Strictly increasing across calls."""
        with self.lock:
            now = int(time.time() * 1000)
            if now > self._tso_physical:
                self._tso_physical, self._tso_logical = now, 0
            if self._tso_logical + count >= 1 << TSO_LOGICAL_BITS:
                self._tso_physical, self._tso_logical = self._tso_physical + 1, 0
            self._tso_logical += count
            return self._tso_physical, self._tso_logical

    # --- regions ------------------------------------------------------------------------------

    def _new_region(
        self, *, start: bytes, end: bytes, stores: Sequence[int], conf_ver: int, version: int
    ) -> Region:
        peers = [metapb_pb2.Peer(id=self._allocate_id(), store_id=s) for s in stores]
        return Region(
            id=self._allocate_id(),
            start=start,
            end=end,
            conf_ver=conf_ver,
            version=version,
            peers=peers,
            leader_store=stores[0],
        )

    def regions(self) -> list[Region]:
        """Every region in key order."""
        with self.lock:
            return sorted(self._regions.values(), key=lambda r: r.start)

    def region(self, region_id: int) -> Region | None:
        """The region with id ``region_id``, or None."""
        with self.lock:
            return self._regions.get(region_id)

    def region_for_key(self, key: bytes) -> Region:
        """The region holding encoded ``key`` (regions cover every key)."""
        with self.lock:
            return next(r for r in self._regions.values() if r.contains(key))

    def scan(self, start: bytes, end: bytes, limit: int) -> list[Region]:
        """The regions meeting encoded ``[start, end)``, in key order, at most ``limit`` of them
        (no limit when ``limit`` <= 0)."""
        found = [r for r in self.regions() if r.overlaps(start, end)]
        return found[:limit] if limit > 0 else found

    def split(
        self, region_id: int, raw_keys: Iterable[bytes], *, encoded: bool = False
    ) -> list[Region]:
        """Split region ``region_id`` at raw keys (encoded here unless ``encoded``; sorted as
        TiKV sorts them); every resulting region in key order. The rightmost part keeps the
        region's id (TiKV's ``right-derive-when-split``); every part's version grows by the
        number of new regions."""
        with self.lock:
            region = self._regions[region_id]
            keys = sorted(k if encoded else encode_bytes(k) for k in raw_keys)
            if not keys:
                raise SplitRefused("missing split key")
            for previous, key in itertools.pairwise(keys):
                if key == previous:
                    raise SplitRefused(f"invalid split request: duplicate split key {key.hex()}")
            for key in keys:
                if key == region.start or not region.contains(key):
                    raise SplitRefused(
                        f"split key {key.hex()} is not inside region {region.id}", key=key
                    )
            version = region.version + len(keys)
            stores = [p.store_id for p in region.peers]
            bounds = [region.start, *keys]
            parts = []
            for left, right in itertools.pairwise(bounds):
                part = self._new_region(
                    start=left, end=right, stores=stores, conf_ver=region.conf_ver, version=version
                )
                part.leader_store = region.leader_store
                parts.append(part)
                self._regions[part.id] = part
            region.start = keys[-1]
            region.version = version
            parts.append(region)
            return parts

    def split_inside(self, region_id: int, start: bytes, end: bytes) -> bool:
        """Split the region at a key inside encoded ``[start, end]`` and the region (a fault:
        "the region split meanwhile"); whether a split was possible."""
        with self.lock:
            region = self._regions[region_id]
            for candidate in (end, start):
                try:
                    raw, _ = decode_bytes(candidate)
                except EncodeError:
                    continue
                if encode_bytes(raw) != region.start and region.contains(encode_bytes(raw)):
                    self.split(region_id, [raw])
                    return True
            return False

    def transfer_leader(self, region_id: int) -> metapb_pb2.Peer | None:
        """Move the region's leadership to another of its peers; the new leader (None when the
        region has one peer)."""
        with self.lock:
            region = self._regions[region_id]
            others = [p for p in region.peers if p.store_id != region.leader_store]
            if not others:
                return None
            region.leader_store = self._random.choice(others).store_id
            return region.leader

    def move_peer(self, region_id: int, *, away_from: int | None = None) -> bool:
        """Replace one peer of the region by a new one (on another store when there is a free
        one, else on the same store with a new peer id); conf_ver grows by 2 (one add, one
        remove). ``away_from`` names the store whose peer goes. Whether a peer moved."""
        with self.lock:
            region = self._regions[region_id]
            leaving = region.peer_on(away_from) if away_from is not None else None
            if leaving is None:
                leaving = self._random.choice(region.peers)
            used = {p.store_id for p in region.peers}
            free = [s for s in self.store_ids if s not in used]
            if away_from is not None and not free:
                return False
            target = self._random.choice(free) if free else leaving.store_id
            index = region.peers.index(leaving)
            region.peers[index] = metapb_pb2.Peer(id=self._allocate_id(), store_id=target)
            if region.leader_store == leaving.store_id:
                region.leader_store = region.peers[0].store_id
            region.conf_ver += 2
            return True

    def scatter(self, region_id: int) -> bool:
        """Spread the region's peers and leader over the stores as PD's scatterer does: one peer
        moved when there are more stores than peers, a leader chosen at random; a RUNNING
        operator is recorded. Whether the region exists."""
        with self.lock:
            region = self._regions.get(region_id)
            if region is None:
                return False
            if len(self.store_ids) > len(region.peers):
                self.move_peer(region_id)
            region.leader_store = self._random.choice(region.peers).store_id
            self._operators[region_id] = ScatterOperator(polls_left=self.scatter_polls)
            return True

    def poll_operator(self, region_id: int) -> bool | None:
        """Whether the region's scatter operator still runs (None: the region has none); each
        call counts as one GetOperator poll."""
        with self.lock:
            operator = self._operators.get(region_id)
            if operator is None:
                return None
            if operator.polls_left > 0:
                operator.polls_left -= 1
                return True
            return False
