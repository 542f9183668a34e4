"""Faults the TiKV double injects: from a seed at random, or queued one by one by a test.

A drawn fault is a pure function of the seed, the kind of call, the region's start key, the
store and how many such calls came before, so a client that handles each region in order
meets the same faults on every run with one seed, whatever the thread timing between regions.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections import Counter, deque
from collections.abc import Iterable

import attrs


class Call(enum.Enum):
    """The calls faults are drawn for."""

    WRITE = "write"
    INGEST = "ingest"
    SPLIT = "split"


class Fault(enum.Enum):
    """What can go wrong; each fault changes the cluster as the real cause would."""

    NOT_LEADER = "not-leader"
    """Leadership moved to another peer; the answer names the new leader."""
    NOT_LEADER_NO_HINT = "not-leader-no-hint"
    """Leadership moved; the answer names no leader (ask PD)."""
    EPOCH_NOT_MATCH = "epoch-not-match"
    """The region split just before the call; the answer lists the current regions."""
    SERVER_IS_BUSY = "server-is-busy"
    """The store is busy (write stall); nothing changed, retry after the back-off."""
    REGION_NOT_FOUND = "region-not-found"
    """The region's peer left this store."""
    PROPOSAL_DROPPED = "proposal-dropped"
    """The raft proposal was dropped ("raft: proposal dropped"); nothing changed."""
    DISK_FULL = "disk-full"
    """The store's disk is full (fatal for Lightning; never drawn at random)."""
    SPLIT_DURING_WRITE = "split-during-write"
    """The region splits while a Write stream runs: the stream succeeds, its ingest fails."""
    DROPPED_STREAM = "dropped-stream"
    """The Write stream breaks when its first batch arrives (gRPC UNAVAILABLE)."""


FAULTS_BY_CALL: dict[Call, frozenset[Fault]] = {
    Call.INGEST: frozenset(
        {
            Fault.NOT_LEADER,
            Fault.NOT_LEADER_NO_HINT,
            Fault.EPOCH_NOT_MATCH,
            Fault.SERVER_IS_BUSY,
            Fault.REGION_NOT_FOUND,
            Fault.PROPOSAL_DROPPED,
            Fault.DISK_FULL,
        }
    ),
    Call.WRITE: frozenset({Fault.SPLIT_DURING_WRITE, Fault.DROPPED_STREAM}),
    Call.SPLIT: frozenset({Fault.NOT_LEADER, Fault.EPOCH_NOT_MATCH, Fault.SERVER_IS_BUSY}),
}
RANDOM_FAULTS = frozenset(Fault) - {Fault.DISK_FULL}
"""The faults drawn at random: every one a client must get through."""


@attrs.frozen(kw_only=True)
class FiredFault:
    """A fault the double injected."""

    call: Call
    fault: Fault
    region_id: int
    store_id: int


class FaultPlan:
    """Which call fails and how.

    :param seed: draw faults at random from this seed (None: only queued faults fire).
    :param rate: the chance that one call draws a fault.
    :param kinds: the faults drawn at random.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        rate: float = 0.15,
        kinds: Iterable[Fault] = RANDOM_FAULTS,
    ) -> None:
        self.seed = seed
        self.rate = rate
        self.kinds = frozenset(kinds)
        self._queued: deque[Fault] = deque()
        self._calls: Counter[tuple[Call, bytes, int]] = Counter()
        self._lock = threading.Lock()
        self.fired: list[FiredFault] = []
        """Every fault injected so far, in order."""

    def inject(self, fault: Fault, *, times: int = 1) -> None:
        """Make the next ``times`` calls that can fail with ``fault`` fail with it."""
        with self._lock:
            self._queued.extend([fault] * times)

    def draw(
        self, call: Call, *, region_id: int, region_start: bytes, store_id: int
    ) -> Fault | None:
        """The fault this call meets, or None."""
        with self._lock:
            fault = self._take_queued(call)
            if fault is None:
                fault = self._draw_random(call, region_start, store_id)
            if fault is not None:
                self.fired.append(
                    FiredFault(call=call, fault=fault, region_id=region_id, store_id=store_id)
                )
            return fault

    def _take_queued(self, call: Call) -> Fault | None:
        for fault in self._queued:
            if fault in FAULTS_BY_CALL[call]:
                self._queued.remove(fault)
                return fault
        return None

    def _draw_random(self, call: Call, region_start: bytes, store_id: int) -> Fault | None:
        if self.seed is None:
            return None
        ordinal = self._calls[call, region_start, store_id]
        self._calls[call, region_start, store_id] += 1
        digest = hashlib.blake2b(
            b"%d|%s|%d|%d|" % (self.seed, call.value.encode(), store_id, ordinal) + region_start,
            digest_size=16,
        ).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        choices = sorted(FAULTS_BY_CALL[call] & self.kinds, key=lambda f: f.value)
        if not choices:
            return None
        return choices[int.from_bytes(digest[8:], "big") % len(choices)]
