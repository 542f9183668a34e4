"""The calls an import makes to a TiKV cluster, over PD and the stores: split, write to every
peer, ingest at the leader, import mode and the checksum coprocessor request.

Each call reports region errors as values (:class:`RegionError`) for the job to act on;
transport failures raise ``grpc.RpcError`` or :class:`StoreError`."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import grpc

from lightning_backend_local.kvproto import (
    checksum_pb2,
    coprocessor_pb2,
    import_sstpb_pb2,
    import_sstpb_pb2_grpc,
    kvrpcpb_pb2,
    tikvpb_pb2_grpc,
)
from lightning_backend_local.tikv.channels import Channels, stub
from lightning_backend_local.tikv.job import RegionError, SSTMeta, Written
from lightning_backend_local.tikv.pd import PDClient, Store
from lightning_backend_local.tikv.regions import KeyRange, Peer, Region, cut_along
from lightning_backend_local.tikv.wire import context_of, epoch_of, region_error, region_from_proto
from lightning_core import KVChecksum, TargetError, encode_bytes

log = logging.getLogger(__name__)

#: Seconds a split, an ingest or a switch of mode may take.
CALL_TIMEOUT = 30.0
#: Seconds one Write stream may take.
WRITE_TIMEOUT = 15 * 60.0
#: Coprocessor request type of TiDB's checksum (``kv.ReqTypeChecksum``).
REQ_TYPE_CHECKSUM = 105
#: Write requests buffered per peer stream before the reader waits.
_QUEUED_BATCHES = 4

_WRITE = "/import_sstpb.ImportSST/Write"


class StoreError(TargetError):
    """A store refused a request outside the region-error channel."""


class StoreLimiter:
    """``[tikv-importer] store-write-bwlimit``: bytes per second written to each store."""

    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._clock = clock
        self._next: dict[int, float] = {}
        self._lock = threading.Lock()

    def wait(self, store_id: int, size: int) -> None:
        """Wait until ``size`` more bytes may go to ``store_id``."""
        if self._rate <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next.get(store_id, now))
            self._next[store_id] = start + size / self._rate
        if start > now:
            time.sleep(start - now)


class Cluster:
    """PD and the stores of one cluster, for one import."""

    def __init__(self, pd: PDClient, channels: Channels, limiter: StoreLimiter) -> None:
        self.pd = pd
        self._channels = channels
        self._limiter = limiter
        self._stores: dict[int, Store] = {}
        self._multi_ingest: dict[int, bool] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the channels."""
        self._channels.close()

    # --- stores -------------------------------------------------------------------------------

    def tikv_stores(self) -> list[Store]:
        """The TiKV stores, whose import mode an import switches (TiFlash is left out)."""
        stores = self.pd.stores()
        with self._lock:
            self._stores.update({s.id: s for s in stores})
        return [s for s in stores if not s.is_tiflash]

    def _address(self, store_id: int) -> str:
        with self._lock:
            store = self._stores.get(store_id)
        if store is None:
            self.tikv_stores()
            with self._lock:
                store = self._stores.get(store_id)
        if store is None:
            raise StoreError(f"PD lists no store {store_id}, which holds a region of the import")
        return store.write_address

    def _import_sst(self, store_id: int) -> Any:
        return stub(
            import_sstpb_pb2_grpc.ImportSSTStub, self._channels.get(self._address(store_id))
        )

    def _tikv(self, store_id: int) -> Any:
        return stub(tikvpb_pb2_grpc.TikvStub, self._channels.get(self._address(store_id)))

    # --- split --------------------------------------------------------------------------------

    def split(self, region: Region, keys: Sequence[bytes]) -> list[Region] | RegionError:
        """Split ``region`` at the raw ``keys`` on its leader: the regions it became."""
        leader = region.leader or region.peers[0]
        response = self._tikv(leader.store_id).SplitRegion(
            kvrpcpb_pb2.SplitRegionRequest(
                context=context_of(region, leader), split_keys=list(keys)
            ),
            timeout=CALL_TIMEOUT,
        )
        error = region_error(response.region_error)
        if error is not None:
            return error
        return [region_from_proto(r) for r in response.regions]

    # --- write and ingest ---------------------------------------------------------------------

    def write(
        self,
        region: Region,
        first: bytes,
        last: bytes,
        pairs: Iterable[tuple[bytes, bytes]],
        *,
        commit_ts: int,
        batch_bytes: int,
    ) -> Written | str:
        """Stream ``pairs`` (raw keys ``first`` … ``last``, increasing) to every peer of
        ``region``; what the leader built, or why a peer failed."""
        leader = region.leader
        if leader is None:
            raise AssertionError("write to a region with no known leader")
        meta = import_sstpb_pb2.SSTMeta(
            uuid=uuid.uuid4().bytes,
            region_id=region.id,
            region_epoch=epoch_of(region),
            range=import_sstpb_pb2.Range(start=encode_bytes(first), end=encode_bytes(last)),
        )
        streams = [
            _PeerStream(self._channels.get(self._address(p.store_id)), p) for p in region.peers
        ]
        for stream in streams:
            stream.start()
        head = import_sstpb_pb2.WriteRequest(meta=meta).SerializeToString()
        sent = 0
        try:
            self._send(streams, head)
            for batch, count in _batches(pairs, commit_ts, batch_bytes):
                if all(s.error is not None for s in streams):
                    break  # the write failed: no use reading on
                self._send(streams, batch)
                sent += count
        finally:
            for stream in streams:
                stream.finish()
        failures = [f"store {s.peer.store_id}: {s.error}" for s in streams if s.error]
        if failures:
            return f"write to {region.describe()} failed: {'; '.join(failures)}"
        response = next(s.response for s in streams if s.peer == leader)
        assert response is not None
        metas = tuple(
            SSTMeta(
                uuid=m.uuid, cf_name=m.cf_name, total_kvs=m.total_kvs, wire=m.SerializeToString()
            )
            for m in response.metas
        )
        return Written(metas=metas, stores=frozenset(p.store_id for p in region.peers), kvs=sent)

    def _send(self, streams: list[_PeerStream], message: bytes) -> None:
        for stream in streams:
            if stream.error is None:
                self._limiter.wait(stream.peer.store_id, len(message))
                stream.put(message)

    def ingest(self, region: Region, metas: Sequence[SSTMeta]) -> RegionError | None:
        """Ingest ``metas`` at the region's leader (MultiIngest, or one Ingest per SST where
        the store does not have it)."""
        leader = region.leader
        if leader is None:
            raise AssertionError("ingest into a region with no known leader")
        service = self._import_sst(leader.store_id)
        context = context_of(region, leader)
        ssts = [import_sstpb_pb2.SSTMeta.FromString(m.wire) for m in metas]
        if self._multi_ingest.get(leader.store_id, True):
            try:
                response = service.MultiIngest(
                    import_sstpb_pb2.MultiIngestRequest(context=context, ssts=ssts),
                    timeout=CALL_TIMEOUT,
                )
                return region_error(response.error)
            except grpc.RpcError as exc:
                if exc.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    raise
                log.info(
                    "store %d has no MultiIngest; ingesting one SST at a time", leader.store_id
                )
                self._multi_ingest[leader.store_id] = False
        for sst in ssts:
            response = service.Ingest(
                import_sstpb_pb2.IngestRequest(context=context, sst=sst), timeout=CALL_TIMEOUT
            )
            error = region_error(response.error)
            if error is not None:
                return error
        return None

    # --- import mode --------------------------------------------------------------------------

    def switch_mode(self, store: Store, mode: str) -> bool:
        """Switch one store to ``mode`` (``import`` / ``normal``); False when the store has no
        ImportSST service (TiFlash)."""
        service = stub(import_sstpb_pb2_grpc.ImportSSTStub, self._channels.get(store.address))
        wanted = import_sstpb_pb2.Import if mode == "import" else import_sstpb_pb2.Normal
        try:
            service.SwitchMode(
                import_sstpb_pb2.SwitchModeRequest(mode=wanted), timeout=CALL_TIMEOUT
            )
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                return False
            raise
        return True

    def mode_of(self, store: Store) -> str:
        """``import``, ``normal``, or ``unknown`` (the store has no GetMode)."""
        service = stub(import_sstpb_pb2_grpc.ImportSSTStub, self._channels.get(store.address))
        try:
            response = service.GetMode(import_sstpb_pb2.GetModeRequest(), timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                return "unknown"
            raise
        return "import" if response.mode == import_sstpb_pb2.Import else "normal"

    # --- checksum -----------------------------------------------------------------------------

    def checksum(self, keys: KeyRange, *, attempts: int = 10) -> KVChecksum:
        """The checksum of every pair in raw ``keys``, computed by the stores (TiKV's checksum
        coprocessor request, region by region, at a fresh timestamp)."""
        start_ts = self.pd.tso()
        total = KVChecksum()
        pending = [keys]
        failures = 0
        while pending:
            part = pending.pop(0)
            regions = self.pd.scan_regions(encode_bytes(part.start), encode_bytes(part.end))
            for piece, region in cut_along(part, regions):
                error = None if region is not None else "PD reported no region"
                if region is not None:
                    found = self._checksum_region(region, piece, start_ts)
                    if isinstance(found, KVChecksum):
                        total.add(found)
                        continue
                    error = found
                failures += 1
                if failures > attempts:
                    raise StoreError(
                        f"the checksum of {keys.describe()} failed {attempts} times; the last "
                        f"error: {error}"
                    )
                pending.append(piece)
        return total

    def _checksum_region(self, region: Region, part: KeyRange, start_ts: int) -> KVChecksum | str:
        leader = region.leader or region.peers[0]
        request = coprocessor_pb2.Request(
            context=context_of(region, leader),
            tp=REQ_TYPE_CHECKSUM,
            data=checksum_pb2.ChecksumRequest(
                scan_on=checksum_pb2.Table, algorithm=checksum_pb2.Crc64_Xor
            ).SerializeToString(),
            ranges=[coprocessor_pb2.KeyRange(start=part.start, end=part.end)],
            start_ts=start_ts,
        )
        try:
            response = self._tikv(leader.store_id).Coprocessor(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            return f"store {leader.store_id}: {exc.code()}"
        error = region_error(response.region_error)
        if error is not None:
            return f"{region.describe()}: {error.describe()}"
        if response.other_error:
            return f"{region.describe()}: {response.other_error}"
        result = checksum_pb2.ChecksumResponse.FromString(response.data)
        return KVChecksum(result.checksum, result.total_kvs, result.total_bytes)


def _batches(
    pairs: Iterable[tuple[bytes, bytes]], commit_ts: int, batch_bytes: int
) -> Iterator[tuple[bytes, int]]:
    """Serialized ``WriteRequest`` batches of about ``batch_bytes`` each, with their pair
    counts (each batch is encoded once and sent to every peer)."""
    request = import_sstpb_pb2.WriteRequest()
    request.batch.commit_ts = commit_ts
    add = request.batch.pairs.add
    size = count = 0
    for key, value in pairs:
        add(key=key, value=value)
        size += len(key) + len(value) + 8
        count += 1
        if size >= batch_bytes:
            yield request.SerializeToString(), count
            del request.batch.pairs[:]
            size = count = 0
    if count:
        yield request.SerializeToString(), count


class _PeerStream:
    """One peer's Write stream, fed from a bounded queue by the thread that reads the pairs."""

    _END = b""

    def __init__(self, channel: grpc.Channel, peer: Peer) -> None:
        self.peer = peer
        self._call = channel.stream_unary(
            _WRITE,
            request_serializer=None,
            response_deserializer=import_sstpb_pb2.WriteResponse.FromString,
        )
        self._queue: queue.Queue[bytes] = queue.Queue(_QUEUED_BATCHES)
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"write-{peer.store_id}"
        )
        self._closed = threading.Event()
        self._drained = False
        self.response: import_sstpb_pb2.WriteResponse | None = None
        self.error: str | None = None

    def start(self) -> None:
        """Open the stream."""
        self._thread.start()

    def put(self, message: bytes) -> None:
        """Queue one serialized request (dropped once the stream failed)."""
        while self.error is None and not self._closed.is_set():
            try:
                self._queue.put(message, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Half-close the stream and wait for the answer."""
        self.put(self._END)
        self._thread.join()

    def _requests(self) -> Iterator[bytes]:
        while not self._closed.is_set():
            try:
                message = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if message == self._END:
                self._drained = True
                return
            yield message

    def _run(self) -> None:
        try:
            response = self._call(self._requests(), timeout=WRITE_TIMEOUT)
        except grpc.RpcError as exc:
            self.error = f"{exc.code()} {exc.details()}"
            return
        finally:
            self._closed.set()
        if response.HasField("error"):
            self.error = response.error.message or str(response.error).strip()
        elif not self._drained:
            self.error = "the store answered before the stream ended"
        else:
            self.response = response
