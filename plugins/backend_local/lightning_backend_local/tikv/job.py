"""The import job of one range: one explicit state machine, free of I/O.

::

    SPLIT        → SCATTER (regions were made) | LOCATE (nothing to split) | SPLIT (retry)
    SCATTER      → WAIT_SCATTER
    WAIT_SCATTER → LOCATE
    LOCATE       → WRITE | LOCATE (retry: PD knows no region or no leader for some keys)
    WRITE        → INGEST | LOCATE (a stream failed) | WRITE, DONE (the piece had no pairs)
    INGEST       → INGEST (busy; a new leader that built the SSTs)
                 | WRITE (epoch not match: the parts along the current regions; the next piece)
                 | LOCATE (any other error; the next piece has no region yet) | DONE

The range is kept as *pieces*: disjoint key ranges that together cover exactly what is not
ingested yet, each with the region it goes to. The job works on the first piece: LOCATE cuts
it along the regions PD reports, WRITE streams its pairs to every peer, INGEST asks the leader
to ingest what the peers built. A piece leaves the pending list only when its ingest
succeeded, and every error that re-targets a piece replaces it by parts that cover the same
keys — never fewer. That is what makes the losses of Go Lightning's partial writes
(pingcap/tidb#43363, #43768) impossible here: there is no state in which keys are neither
pending nor ingested. At DONE the pairs ingested must add up to the range's local count.

The driver (``importer.py``) performs each state's call and reports the outcome through the
``on_*`` methods, which are the only transitions.
"""

from __future__ import annotations

import enum

import attrs

from lightning_backend_local.tikv.regions import KeyRange, Peer, Region, cut_along
from lightning_core import TargetError


class JobState(enum.Enum):
    """Where a range's import stands."""

    SPLIT = "split"
    SCATTER = "scatter"
    WAIT_SCATTER = "wait-scatter"
    LOCATE = "locate"
    WRITE = "write"
    INGEST = "ingest"
    DONE = "done"


_NEXT: dict[JobState, frozenset[JobState]] = {
    JobState.SPLIT: frozenset({JobState.SPLIT, JobState.SCATTER, JobState.LOCATE}),
    JobState.SCATTER: frozenset({JobState.WAIT_SCATTER}),
    JobState.WAIT_SCATTER: frozenset({JobState.LOCATE}),
    JobState.LOCATE: frozenset({JobState.LOCATE, JobState.WRITE}),
    JobState.WRITE: frozenset({JobState.LOCATE, JobState.WRITE, JobState.INGEST, JobState.DONE}),
    JobState.INGEST: frozenset({JobState.LOCATE, JobState.WRITE, JobState.INGEST, JobState.DONE}),
    JobState.DONE: frozenset(),
}


class ErrorKind(enum.Enum):
    """The region errors (``errorpb.Error``) an ingest or a split can answer."""

    NOT_LEADER = "not leader"
    EPOCH_NOT_MATCH = "epoch not match"
    SERVER_IS_BUSY = "server is busy"
    REGION_NOT_FOUND = "region not found"
    STALE_COMMAND = "stale command"
    KEY_NOT_IN_REGION = "key not in region"
    PROPOSAL_DROPPED = "raft: proposal dropped"
    DISK_FULL = "disk full"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class RegionError:
    """A region error, as the job needs it."""

    kind: ErrorKind
    message: str = ""
    leader: Peer | None = None
    """NOT_LEADER: the new leader, when TiKV knows it."""
    current_regions: tuple[Region, ...] = ()
    """EPOCH_NOT_MATCH: the regions that now hold the keys."""
    backoff_ms: int = 0
    """SERVER_IS_BUSY: how long TiKV asks the client to wait (0: not said)."""

    def describe(self) -> str:
        """The error for messages."""
        return f"{self.kind.value}{': ' + self.message if self.message else ''}"


@attrs.frozen(kw_only=True)
class SSTMeta:
    """An SST a peer built from a Write stream (the fields Ingest needs back)."""

    uuid: bytes
    cf_name: str
    total_kvs: int
    wire: bytes = b""
    """The meta as the peer returned it (serialized), to send back in the ingest."""


@attrs.frozen(kw_only=True)
class Written:
    """The outcome of writing a piece to every peer of its region."""

    metas: tuple[SSTMeta, ...]
    """The leader's metas, to ingest."""
    stores: frozenset[int]
    """The stores that built the SSTs."""
    kvs: int
    """Pairs sent."""


@attrs.define
class Piece:
    """Keys of the range not ingested yet, and where they go."""

    range: KeyRange
    region: Region | None = None
    written: Written | None = None


class JobError(TargetError):
    """A range could not be imported: retries ran out, or the cluster refused for good."""


@attrs.define
class RangeJob:
    """The import of one range; see the module docstring for the states."""

    range: KeyRange
    local_kvs: int
    """Pairs of the range on local disk: what must be ingested in the end."""
    max_attempts: int = 30
    """Retries of the job in all before it fails."""
    state: JobState = JobState.SPLIT
    pending: list[Piece] = attrs.Factory(list)
    ingested: list[tuple[KeyRange, int]] = attrs.Factory(list)
    """Each ingested piece and its pairs."""
    scattered: tuple[int, ...] = ()
    """Regions the split made, to scatter and wait for."""
    retries: int = 0
    """Retries since the last piece was ingested."""
    last_error: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.pending:
            self.pending = [Piece(self.range)]

    @property
    def head(self) -> Piece:
        """The piece the job works on."""
        return self.pending[0]

    def _go(self, state: JobState) -> None:
        if state not in _NEXT[self.state]:
            raise AssertionError(f"range job: no transition {self.state} → {state}")
        self.state = state

    def _retry(self, state: JobState, why: str) -> None:
        self.retries += 1
        self.last_error = why
        if self.retries > self.max_attempts:
            raise JobError(
                f"range {self.range.describe()} made no progress in {self.max_attempts} "
                f"retries; the last error: {why}; check the cluster's health, then run again "
                "to resume (ranges already ingested are kept)"
            )
        self._go(state)

    # --- split and scatter --------------------------------------------------------------------

    def on_split(self, new_regions: tuple[int, ...]) -> None:
        """The range's boundaries are region boundaries; ``new_regions`` were made for it."""
        self.scattered = new_regions
        self._go(JobState.SCATTER if new_regions else JobState.LOCATE)

    def on_split_failed(self, why: str) -> None:
        """A split was refused or lost: scan and split again."""
        self._retry(JobState.SPLIT, why)

    def on_scattered(self) -> None:
        """PD was asked to scatter the new regions."""
        self._go(JobState.WAIT_SCATTER)

    def on_scatter_finished(self) -> None:
        """The scatter operators ended (or the wait's limit passed)."""
        self._go(JobState.LOCATE)

    # --- locate, write, ingest ----------------------------------------------------------------

    def on_located(self, regions: list[Region]) -> None:
        """PD's regions over the head piece: cut it along them."""
        parts = cut_along(self.head.range, regions)
        located = [Piece(r, region) for r, region in parts]
        if any(p.region is None or p.region.leader is None for p in located):
            # PD did not cover the keys, or knows no leader yet: ask again
            self._retry(JobState.LOCATE, "PD reported no region or no leader for some keys")
            return
        self.pending[0:1] = located
        self._go(JobState.WRITE)

    def on_written(self, written: Written) -> None:
        """Every peer built the head piece's SSTs."""
        # TiKV's write-CF SST holds a record for every key; TiKV before 5.x leaves total_kvs 0
        write_cf = [m for m in written.metas if m.cf_name == "write"]
        if written.kvs and (len(write_cf) != 1 or write_cf[0].total_kvs not in (0, written.kvs)):
            counted = ", ".join(f"{m.cf_name}: {m.total_kvs}" for m in written.metas)
            raise JobError(
                f"range {self.range.describe()}: {written.kvs} pairs were written to "
                f"{self._where()}, but the leader reports SSTs with {counted or 'nothing'}; "
                "the cluster lost pairs in the write, nothing of this piece was ingested"
            )
        self.head.written = written
        if not written.kvs:
            self._finish_head(0)
            return
        self._go(JobState.INGEST)

    def on_write_failed(self, why: str) -> None:
        """A Write stream failed: locate the piece again and rewrite it."""
        self.head.written = None
        self._retry(JobState.LOCATE, why)

    def on_ingested(self) -> None:
        """The leader ingested the head piece."""
        written = self.head.written
        if written is None:
            raise AssertionError("range job: ingested a piece that was not written")
        self._finish_head(written.kvs)

    def on_ingest_failed(self, error: RegionError) -> None:
        """The leader refused the ingest: retry as TiKV defines the error."""
        piece = self.head
        written = piece.written
        region = piece.region
        if written is None or region is None:
            raise AssertionError("range job: an ingest failed for a piece that was not written")
        why = f"{error.describe()} at {self._where()}"
        kind = error.kind
        if kind is ErrorKind.DISK_FULL:
            raise JobError(
                f"TiKV is out of disk space ({error.message or 'disk full'}) ingesting range "
                f"{self.range.describe()}: free space or add stores, then run again to resume"
            )
        if kind is ErrorKind.SERVER_IS_BUSY:
            self._retry(JobState.INGEST, why)
            return
        if kind is ErrorKind.NOT_LEADER and error.leader is not None:
            if error.leader.store_id in written.stores:
                # the new leader built the same SSTs: ingest them there
                piece.region = region.with_leader(error.leader)
                self._retry(JobState.INGEST, why)
                return
            self._relocate(why)
            return
        if kind is ErrorKind.EPOCH_NOT_MATCH and error.current_regions:
            self._resplit(error.current_regions, region, why)
            return
        # NotLeader without a leader, RegionNotFound, stale command, proposal dropped, keys
        # outside the region and whatever else: refresh the region and write again
        self._relocate(why)

    def on_ingest_lost(self, why: str) -> None:
        """The ingest call itself failed (connection lost, timeout): whether it happened is
        unknown, and ingesting the same pairs again is harmless, so write them again."""
        self._relocate(why)

    def _relocate(self, why: str) -> None:
        self.head.written = None
        self.head.region = None
        self._retry(JobState.LOCATE, why)

    def _resplit(self, current: tuple[Region, ...], old: Region, why: str) -> None:
        """EpochNotMatch: cut the head piece along the regions TiKV says hold it now, each part
        written again; a part with no region, or whose leader cannot be guessed, is located."""
        old_leader_store = old.leader.store_id if old.leader is not None else None
        parts: list[Piece] = []
        for part_range, region in cut_along(self.head.range, current):
            if region is not None and old_leader_store is not None:
                # TiKV does not say who leads the new regions; a split keeps the leader's store
                region = region.with_leader(region.peer_on(old_leader_store))
            if region is not None and region.leader is None:
                region = None
            parts.append(Piece(part_range, region))
        self.pending[0:1] = parts
        self._retry(JobState.WRITE if parts[0].region is not None else JobState.LOCATE, why)

    def _finish_head(self, kvs: int) -> None:
        piece = self.pending.pop(0)
        self.ingested.append((piece.range, kvs))
        self.retries = 0
        if self.pending:
            self._go(JobState.WRITE if self.head.region is not None else JobState.LOCATE)
            return
        total = sum(kvs for _, kvs in self.ingested)
        if total != self.local_kvs:
            raise JobError(
                f"range {self.range.describe()}: {total} pairs were ingested but the engine "
                f"holds {self.local_kvs}; the import of this range is incomplete"
            )
        self._go(JobState.DONE)

    def _where(self) -> str:
        region = self.head.region
        return region.describe() if region is not None else "an unknown region"
