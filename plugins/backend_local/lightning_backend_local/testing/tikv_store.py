"""One TiKV store of the double: ``tikvpb.Tikv`` (SplitRegion, the checksum Coprocessor) and
``import_sstpb.ImportSST`` (SwitchMode, GetMode, Write, Ingest, MultiIngest).

What it refuses, and how, follows TiKV (shared/reference/kv-protocols.md §2.5-§2.6): failures of
Write come back as gRPC UNKNOWN with the error's name in the message; region errors of Ingest,
MultiIngest, SplitRegion and Coprocessor come back in-band in an ``errorpb.Error``. Where TiKV
would silently go wrong the double refuses too (keys of a Write outside its meta's range, an
ingest that a follower peer has no copy of).

A Write builds up to two SST files in the store's import directory, as TiKV does: ``write``
with a record for every key and deletion, ``default`` with the values longer than 255 bytes
once more. The files hold raw keys and values (the embedded store's form, not TiKV's MVCC form,
so the write file's records carry the whole value); an ingest moves the leader's write file into
the embedded store and drops its default file (a :class:`~.store_lease.StoreLease`: open only while
calls use it, so another process can use the store between them). Upload is not served
(UNIMPLEMENTED).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import attrs
import grpc

from lightning_backend_local.kvproto import (
    checksum_pb2,
    coprocessor_pb2,
    errorpb_pb2,
    import_sstpb_pb2,
    import_sstpb_pb2_grpc,
    kvrpcpb_pb2,
    metapb_pb2,
    tikvpb_pb2_grpc,
)
from lightning_backend_local.sst import sst_options
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.testing.cluster import Cluster, Region, SplitRefused
from lightning_backend_local.testing.faults import Call, Fault, FaultPlan
from lightning_backend_local.testing.pd_double import abort
from lightning_backend_local.testing.store_lease import StoreLease
from lightning_core import KVChecksum, TargetError
from lightning_core.kv.memcomparable import encode_bytes

if TYPE_CHECKING:
    from rocksdict import SstFileWriter

CHECKSUM_REQUEST_TYPE = 105
"""``coprocessor.Request.tp`` of a checksum request (TiDB's ``ReqTypeChecksum``)."""
SHORT_VALUE_MAX_LEN = 255
"""Longer values go to the default column family (TiKV's ``SHORT_VALUE_MAX_LEN``)."""
CF_NAMES = ("default", "write")
MISSING_FILE = "The file which would be ingested doest not exist."
"""TiKV's words (sic) for an ingest of a file it does not hold."""
BUSY_BACKOFF_MS = 50
DELETION_MARK = b"\xffdeleted"


def epoch_of(region: Region) -> tuple[int, int]:
    """``(conf_ver, version)`` of the region."""
    return region.conf_ver, region.version


def epoch_tuple(epoch: metapb_pb2.RegionEpoch) -> tuple[int, int]:
    """``(conf_ver, version)`` of a metapb epoch."""
    return epoch.conf_ver, epoch.version


@attrs.define
class _WriteFile:
    """One column family's SST being built by a Write stream."""

    path: str
    writer: SstFileWriter
    content: KVChecksum = attrs.Factory(KVChecksum)
    """What the file holds (deletions count as the key and a marker), to compare peers'
    copies: the files' bytes differ (RocksDB writes a session id into each)."""


class StoreDouble(tikvpb_pb2_grpc.TikvServicer, import_sstpb_pb2_grpc.ImportSSTServicer):  # type: ignore[misc]
    """The servicer of one store's ``Tikv`` and ``ImportSST`` services (the generated bases,
    untyped, answer UNIMPLEMENTED for every call the double leaves out)."""

    def __init__(
        self,
        *,
        store_id: int,
        cluster: Cluster,
        faults: FaultPlan,
        store: StoreLease,
        import_root: str,
        import_mode_timeout: float,
        written: dict[str, KVChecksum],
    ) -> None:
        self.store_id = store_id
        self.cluster = cluster
        self.faults = faults
        self.store = store
        self.import_root = import_root
        self.import_dir = store_import_dir(import_root, store_id)
        self.import_mode_timeout = import_mode_timeout
        self.written = written
        """SST path → what it holds, for the SSTs of every store of the double."""
        self._import_until = 0.0
        self._ingesting: set[str] = set()
        self._lock = threading.Lock()
        os.makedirs(self.import_dir, exist_ok=True)

    # --- import mode --------------------------------------------------------------------------

    @property
    def mode(self) -> import_sstpb_pb2.SwitchMode:
        """``import_sstpb.Import`` until ``import_mode_timeout`` after the last SwitchMode to
        import, else ``Normal`` (TiKV goes back to normal by itself)."""
        return (
            import_sstpb_pb2.Import
            if time.monotonic() < self._import_until
            else import_sstpb_pb2.Normal
        )

    def SwitchMode(
        self, request: import_sstpb_pb2.SwitchModeRequest, context: grpc.ServicerContext
    ) -> import_sstpb_pb2.SwitchModeResponse:
        """Enter import mode (for ``import_mode_timeout`` seconds) or go back to normal."""
        if request.mode == import_sstpb_pb2.Import:
            self._import_until = time.monotonic() + self.import_mode_timeout
        else:
            self._import_until = 0.0
        return import_sstpb_pb2.SwitchModeResponse()

    def GetMode(
        self, request: import_sstpb_pb2.GetModeRequest, context: grpc.ServicerContext
    ) -> import_sstpb_pb2.GetModeResponse:
        """The current mode."""
        return import_sstpb_pb2.GetModeResponse(mode=self.mode)

    def Compact(
        self, request: import_sstpb_pb2.CompactRequest, context: grpc.ServicerContext
    ) -> import_sstpb_pb2.CompactResponse:
        """Nothing to compact in the double: answered at once."""
        return import_sstpb_pb2.CompactResponse()

    # --- region checks ------------------------------------------------------------------------

    def _region_error(
        self, context: kvrpcpb_pb2.Context, *, ranges: Sequence[tuple[bytes, bytes]] = ()
    ) -> tuple[Region | None, errorpb_pb2.Error | None]:
        """The region ``context`` names, or the region error TiKV's raftstore gives for it
        (RegionNotFound, NotLeader, StoreNotMatch, EpochNotMatch). Call with the cluster lock."""
        region = self.cluster.region(context.region_id)
        if region is None or region.peer_on(self.store_id) is None:
            return None, region_not_found(context.region_id)
        if region.leader_store != self.store_id:
            return None, not_leader(region, hint=True)
        if context.peer.store_id and context.peer.store_id != self.store_id:
            return None, errorpb_pb2.Error(
                message="store not match",
                store_not_match=errorpb_pb2.StoreNotMatch(
                    request_store_id=context.peer.store_id, actual_store_id=self.store_id
                ),
            )
        if epoch_tuple(context.region_epoch) != epoch_of(region):
            return None, self._epoch_not_match(region, ranges)
        return region, None

    def _epoch_not_match(
        self, region: Region, ranges: Sequence[tuple[bytes, bytes]]
    ) -> errorpb_pb2.Error:
        current = {region.id: region}
        for start, end in ranges:
            for other in self.cluster.regions():
                if other.contains(start) or other.contains(end) or other.overlaps(start, end):
                    current[other.id] = other
        metas = [r.meta() for r in sorted(current.values(), key=lambda r: r.start)]
        return errorpb_pb2.Error(
            message=f"epoch not match for region {region.id}",
            epoch_not_match=errorpb_pb2.EpochNotMatch(current_regions=metas),
        )

    def _fault_error(
        self, fault: Fault, region: Region, ranges: Sequence[tuple[bytes, bytes]]
    ) -> errorpb_pb2.Error | None:
        """Change the cluster as ``fault`` says and the region error that follows (None when
        the fault cannot happen to this region, e.g. no other peer to lead)."""
        if fault in (Fault.NOT_LEADER, Fault.NOT_LEADER_NO_HINT):
            if self.cluster.transfer_leader(region.id) is None:
                return None
            return not_leader(region, hint=fault is Fault.NOT_LEADER)
        if fault is Fault.EPOCH_NOT_MATCH:
            start, end = ranges[0] if ranges else (region.start, region.start)
            if not self.cluster.split_inside(region.id, start, end):
                self.cluster.move_peer(region.id)
            return self._epoch_not_match(region, ranges)
        if fault is Fault.SERVER_IS_BUSY:
            return server_is_busy("the store is busy (injected fault)")
        if fault is Fault.REGION_NOT_FOUND:
            self.cluster.move_peer(region.id, away_from=self.store_id)
            return region_not_found(region.id)
        if fault is Fault.PROPOSAL_DROPPED:
            return errorpb_pb2.Error(message="raft: proposal dropped")
        if fault is Fault.DISK_FULL:
            return errorpb_pb2.Error(
                message=f"store {self.store_id} disk full",
                disk_full=errorpb_pb2.DiskFull(
                    store_id=[self.store_id], reason="the disk is full (injected fault)"
                ),
            )
        return None

    def _checked_region(
        self, call: Call, context: kvrpcpb_pb2.Context, ranges: Sequence[tuple[bytes, bytes]]
    ) -> tuple[Region | None, errorpb_pb2.Error | None]:
        """:meth:`_region_error`, after the fault the call draws (if any) has struck."""
        region = self.cluster.region(context.region_id)
        if region is not None and region.peer_on(self.store_id) is not None:
            fault = self.faults.draw(
                call, region_id=region.id, region_start=region.start, store_id=self.store_id
            )
            error = self._fault_error(fault, region, ranges) if fault is not None else None
            if error is not None:
                return None, error
        return self._region_error(context, ranges=ranges)

    # --- Write --------------------------------------------------------------------------------

    def sst_path(self, meta: import_sstpb_pb2.SSTMeta, cf_name: str) -> str:
        """Where this store keeps the SST of ``meta`` for ``cf_name`` (TiKV's naming:
        uuid, region id, conf_ver, version, column family)."""
        epoch = meta.region_epoch
        name = f"{meta.uuid.hex()}_{meta.region_id}_{epoch.conf_ver}_{epoch.version}_{cf_name}.sst"
        return os.path.join(self.import_dir, name)

    def _copy_path(self, store_id: int, path: str) -> str:
        """Where store ``store_id`` keeps its copy of this store's SST ``path``."""
        return os.path.join(store_import_dir(self.import_root, store_id), os.path.basename(path))

    def Write(
        self, requests: Iterator[import_sstpb_pb2.WriteRequest], context: grpc.ServicerContext
    ) -> import_sstpb_pb2.WriteResponse:
        """Build the SSTs of one region from a meta and batches of sorted raw pairs."""
        first = next(requests, None)
        if first is None or first.WhichOneof("chunk") != "meta":
            abort(context, grpc.StatusCode.UNKNOWN, "InvalidChunk: the first message is not meta")
        meta = first.meta
        if len(meta.uuid) != 16:
            abort(context, grpc.StatusCode.UNKNOWN, f"Uuid: invalid uuid of {len(meta.uuid)} bytes")
        start, end = meta.range.start, meta.range.end
        with self.cluster.lock:
            region = self._write_region(meta, context)
            fault = self.faults.draw(
                Call.WRITE, region_id=region.id, region_start=region.start, store_id=self.store_id
            )
            bounds = (region.start, region.end)
            if fault is Fault.SPLIT_DURING_WRITE:
                self.cluster.split_inside(region.id, start, end)
        for cf_name in CF_NAMES:
            if os.path.exists(self.sst_path(meta, cf_name)):
                abort(
                    context, grpc.StatusCode.UNKNOWN, f"FileExists: {self.sst_path(meta, cf_name)}"
                )
        files: dict[str, _WriteFile] = {}
        try:
            self._write_pairs(requests, context, meta, bounds, files, fault)
            metas = []
            for cf_name in CF_NAMES:  # default first, as TiKV answers: ingested one by one,
                file = files.get(cf_name)  # no write record goes in before its long value
                if file is None:
                    continue
                file.writer.finish()
                path = self.sst_path(meta, cf_name)
                os.replace(file.path, path)
                out = import_sstpb_pb2.SSTMeta()
                out.CopyFrom(meta)
                out.cf_name = cf_name
                out.length = os.path.getsize(path)
                out.crc32 = file_crc32(path)
                out.total_kvs = file.content.total_kvs
                out.total_bytes = file.content.total_bytes
                self.written[path] = file.content
                metas.append(out)
        finally:
            for file in files.values():
                if os.path.exists(file.path):
                    os.remove(file.path)
        return import_sstpb_pb2.WriteResponse(metas=metas)

    def _write_region(
        self, meta: import_sstpb_pb2.SSTMeta, context: grpc.ServicerContext
    ) -> Region:
        """The region a Write's meta names, refused as TiKV refuses a stale or unknown one."""
        region = self.cluster.region(meta.region_id)
        if region is None or region.peer_on(self.store_id) is None:
            abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"RequestTooNew: region {meta.region_id} is not on store {self.store_id}",
            )
        sent, current = epoch_tuple(meta.region_epoch), epoch_of(region)
        if sent != current:
            stale = sent[0] < current[0] or sent[1] < current[1]
            abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"{'RequestTooOld' if stale else 'RequestTooNew'}: region {region.id} epoch is "
                f"conf_ver {current[0]} version {current[1]}, the request has conf_ver "
                f"{sent[0]} version {sent[1]}",
            )
        outside = range_outside(
            region, meta.range.start, meta.range.end, end_exclusive=meta.end_key_exclusive
        )
        if outside is not None:
            abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"KeyNotInRegion: meta range key {outside.hex()} is outside region {region.id}",
            )
        return region

    def _write_pairs(
        self,
        requests: Iterator[import_sstpb_pb2.WriteRequest],
        context: grpc.ServicerContext,
        meta: import_sstpb_pb2.SSTMeta,
        bounds: tuple[bytes, bytes],
        files: dict[str, _WriteFile],
        fault: Fault | None,
    ) -> None:
        previous: bytes | None = None
        for request in requests:
            if fault is Fault.DROPPED_STREAM:
                abort(context, grpc.StatusCode.UNAVAILABLE, "Socket closed (injected fault)")
            if request.WhichOneof("chunk") != "batch":
                abort(context, grpc.StatusCode.UNKNOWN, "InvalidChunk: a later message is no batch")
            pairs = request.batch.pairs
            if not pairs:
                continue
            keys = [p.key for p in pairs]
            refusal = order_error(previous, keys)
            # sorted keys: the first and the last tell whether all are inside
            for key in (keys[0], keys[-1]):
                refusal = refusal or write_range_error(key, meta, bounds)
            if refusal is not None:
                abort(context, grpc.StatusCode.UNKNOWN, refusal)
            previous = keys[-1]
            values = [p.value for p in pairs]
            deletes = [p.op == import_sstpb_pb2.Pair.Delete for p in pairs]
            write = self._write_file(files, meta, "write")
            if not any(deletes):
                for key, value in zip(keys, values, strict=True):
                    write.writer[key] = value
                write.content.update(zip(keys, values, strict=True))
            else:
                for key, value, delete in zip(keys, values, deletes, strict=True):
                    if delete:
                        del write.writer[key]
                        write.content.update_one(key, DELETION_MARK)
                    else:
                        write.writer[key] = value
                        write.content.update_one(key, value)
            long_values = [
                (key, value)
                for key, value, delete in zip(keys, values, deletes, strict=True)
                if not delete and len(value) > SHORT_VALUE_MAX_LEN
            ]
            if long_values:
                default = self._write_file(files, meta, "default")
                for key, value in long_values:
                    default.writer[key] = value
                default.content.update(long_values)

    def _write_file(
        self, files: dict[str, _WriteFile], meta: import_sstpb_pb2.SSTMeta, cf_name: str
    ) -> _WriteFile:
        """The SST being built for ``cf_name`` (opened on first use)."""
        file = files.get(cf_name)
        if file is None:
            from rocksdict import SstFileWriter

            path = f"{self.sst_path(meta, cf_name)}.tmp"
            writer = SstFileWriter(options=sst_options())
            writer.open(path)
            file = files[cf_name] = _WriteFile(path=path, writer=writer)
        return file

    # --- Ingest -------------------------------------------------------------------------------

    def Ingest(
        self, request: import_sstpb_pb2.IngestRequest, context: grpc.ServicerContext
    ) -> import_sstpb_pb2.IngestResponse:
        """Ingest one SST received through Write (leader only)."""
        return self._ingest(request.context, [request.sst])

    def MultiIngest(
        self, request: import_sstpb_pb2.MultiIngestRequest, context: grpc.ServicerContext
    ) -> import_sstpb_pb2.IngestResponse:
        """Ingest several SSTs of one region at once (leader only)."""
        return self._ingest(request.context, list(request.ssts))

    def _ingest(
        self, context: kvrpcpb_pb2.Context, metas: Sequence[import_sstpb_pb2.SSTMeta]
    ) -> import_sstpb_pb2.IngestResponse:
        ranges = [(m.range.start, m.range.end) for m in metas]
        with self.cluster.lock:
            region, error = self._checked_region(Call.INGEST, context, ranges)
            if region is None:
                return import_sstpb_pb2.IngestResponse(error=error)
            error = self._check_ssts(region, metas)
            if error is not None:
                return import_sstpb_pb2.IngestResponse(error=error)
            paths = [self.sst_path(m, m.cf_name) for m in metas]
            copies = [
                self._copy_path(p.store_id, path)
                for p in region.peers
                if p.store_id != self.store_id
                for path in paths
            ]
        with self._lock:
            if self._ingesting.intersection(paths):
                return import_sstpb_pb2.IngestResponse(
                    error=errorpb_pb2.Error(message="FileConflict: the file is being ingested")
                )
            self._ingesting.update(paths)
        try:
            try:
                with self.store.use() as store:
                    store.ingest(
                        [
                            path
                            for path, meta in zip(paths, metas, strict=True)
                            if meta.cf_name == "write" and os.path.exists(path)
                        ]
                    )
                for path, meta in zip(paths, metas, strict=True):
                    if meta.cf_name == "default" and os.path.exists(path):
                        os.remove(path)
            except TargetError as exc:
                return import_sstpb_pb2.IngestResponse(error=server_is_busy(str(exc)))
            for copy in copies:
                if os.path.exists(copy):
                    os.remove(copy)
            for path in [*paths, *copies]:
                self.written.pop(path, None)
            return import_sstpb_pb2.IngestResponse()
        finally:
            with self._lock:
                self._ingesting.difference_update(paths)

    def _check_ssts(
        self, region: Region, metas: Sequence[import_sstpb_pb2.SSTMeta]
    ) -> errorpb_pb2.Error | None:
        """What raftstore's ``check_sst_for_ingestion`` and the import directory say of the
        SSTs (None: all fine)."""
        named = {(m.uuid, m.cf_name) for m in metas}
        for meta in metas:
            if (
                meta.cf_name == "write"
                and (meta.uuid, "default") not in named
                and os.path.exists(self.sst_path(meta, "default"))
            ):
                # TiKV would ingest write records whose long values it never gets
                return errorpb_pb2.Error(
                    message=f"SST {meta.uuid.hex()} has a default-CF file: ingest its write "
                    "and default metas together"
                )
            if len(meta.uuid) != 16:
                return errorpb_pb2.Error(message=f"invalid uuid of {len(meta.uuid)} bytes")
            if meta.cf_name not in CF_NAMES:
                return errorpb_pb2.Error(message=f"invalid cf name {meta.cf_name!r}")
            if meta.region_id != region.id:
                return region_not_found(meta.region_id)
            if epoch_tuple(meta.region_epoch) != epoch_of(region):
                return self._epoch_not_match(region, [(meta.range.start, meta.range.end)])
            outside = range_outside(
                region, meta.range.start, meta.range.end, end_exclusive=meta.end_key_exclusive
            )
            if outside is not None:
                return key_not_in_region(outside, region)
            path = self.sst_path(meta, meta.cf_name)
            if not os.path.exists(path):
                return errorpb_pb2.Error(
                    message=MISSING_FILE, stale_command=errorpb_pb2.StaleCommand()
                )
            content = self.written.get(path)
            for peer in region.peers:
                if peer.store_id == self.store_id:
                    continue
                copy = self._copy_path(peer.store_id, path)
                if not os.path.exists(copy) or self.written.get(copy) != content:
                    return errorpb_pb2.Error(
                        message=f"the peer on store {peer.store_id} has no copy of SST "
                        f"{meta.uuid.hex()} ({meta.cf_name}) as the leader has it: write the "
                        "same pairs to every peer before the ingest"
                    )
        return None

    # --- Tikv ---------------------------------------------------------------------------------

    def SplitRegion(
        self, request: kvrpcpb_pb2.SplitRegionRequest, context: grpc.ServicerContext
    ) -> kvrpcpb_pb2.SplitRegionResponse:
        """Split a region at raw keys (leader only; the epoch must be current)."""
        keys = list(request.split_keys) or ([request.split_key] if request.split_key else [])
        with self.cluster.lock:
            region, error = self._checked_region(Call.SPLIT, request.context, [])
            if region is None:
                return kvrpcpb_pb2.SplitRegionResponse(region_error=error)
            try:
                parts = self.cluster.split(region.id, keys, encoded=request.is_raw_kv)
            except SplitRefused as exc:
                if exc.key is None:
                    return kvrpcpb_pb2.SplitRegionResponse(
                        region_error=errorpb_pb2.Error(message=str(exc))
                    )
                return kvrpcpb_pb2.SplitRegionResponse(
                    region_error=key_not_in_region(exc.key, region)
                )
            metas = [p.meta() for p in parts]
        response = kvrpcpb_pb2.SplitRegionResponse(regions=metas)
        if len(metas) == 2:
            response.left.CopyFrom(metas[0])
            response.right.CopyFrom(metas[1])
        return response

    def Coprocessor(
        self, request: coprocessor_pb2.Request, context: grpc.ServicerContext
    ) -> coprocessor_pb2.Response:
        """The checksum request over raw key ranges inside one region: total_kvs, total_bytes
        and the XOR of CRC-64s, as Lightning's local checksum computes them."""
        if request.tp != CHECKSUM_REQUEST_TYPE:
            return coprocessor_pb2.Response(
                other_error=f"the double answers only checksum requests (tp "
                f"{CHECKSUM_REQUEST_TYPE}), not tp {request.tp}"
            )
        checksum_request = checksum_pb2.ChecksumRequest.FromString(request.data)
        if checksum_request.algorithm != checksum_pb2.Crc64_Xor:
            return coprocessor_pb2.Response(other_error="unknown checksum algorithm")
        ranges = [(r.start, r.end) for r in request.ranges]
        with self.cluster.lock:
            region, error = self._region_error(request.context)
            if region is None:
                return coprocessor_pb2.Response(region_error=error)
            for start, end in ranges:
                outside = range_outside(
                    region,
                    encode_bytes(start),
                    encode_bytes(end) if end else b"",
                    end_exclusive=True,
                )
                if outside is not None:
                    return coprocessor_pb2.Response(region_error=key_not_in_region(outside, region))
        checksum = KVChecksum()
        try:
            with self.store.use() as store:
                for start, end in ranges:
                    checksum.update(scan_range(store, start, end))
        except TargetError as exc:
            return coprocessor_pb2.Response(region_error=server_is_busy(str(exc)))
        answer = checksum_pb2.ChecksumResponse(
            checksum=checksum.checksum,
            total_kvs=checksum.total_kvs,
            total_bytes=checksum.total_bytes,
        )
        return coprocessor_pb2.Response(data=answer.SerializeToString())


def order_error(previous: bytes | None, keys: Sequence[bytes]) -> str | None:
    """Why ``keys`` (following ``previous``) are not strictly increasing, or None."""
    if (previous is None or keys[0] > previous) and all(map(bytes.__lt__, keys, keys[1:])):
        return None
    sequence = keys if previous is None else [previous, *keys]
    before, key = next((a, b) for a, b in itertools.pairwise(sequence) if b <= a)
    return (
        f"RocksDB: {'duplicate' if key == before else 'unsorted'} key {key.hex()} after "
        f"{before.hex()}: keys must be strictly increasing within one Write"
    )


def write_range_error(
    key: bytes, meta: import_sstpb_pb2.SSTMeta, bounds: tuple[bytes, bytes]
) -> str | None:
    """Why raw ``key`` may not be in a Write for ``meta`` to a region of encoded ``bounds``, or
    None."""
    encoded = encode_bytes(key)
    start, end = bounds
    if encoded < start or (end and encoded >= end):
        return f"KeyNotInRegion: key {key.hex()} is outside region {meta.region_id}"
    low, high = meta.range.start, meta.range.end
    beyond = encoded >= high if meta.end_key_exclusive else encoded > high
    if encoded < low or beyond:
        return (
            f"key {key.hex()} is outside the meta's range: the SST would claim less than it holds"
        )
    return None


def store_import_dir(import_root: str, store_id: int) -> str:
    """The import directory of store ``store_id`` (TiKV's ``import-dir``)."""
    return os.path.join(import_root, f"store-{store_id}")


def range_outside(region: Region, start: bytes, end: bytes, *, end_exclusive: bool) -> bytes | None:
    """The end of encoded ``[start, end]`` (``[start, end)`` when ``end_exclusive``) that lies
    outside the region, or None when the range is inside."""
    if not region.contains(start):
        return start
    if end_exclusive and end == region.end:
        return None
    return None if region.contains(end) else end


def scan_range(store: EmbeddedStore, start: bytes, end: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The store's pairs with raw keys in ``[start, end)`` (an empty ``end`` is +inf)."""
    shared = 0
    while end and shared < min(len(start), len(end)) and start[shared] == end[shared]:
        shared += 1
    prefix = start[:shared]
    for key, value in store.scan(prefix):
        if end and key >= end:
            return
        if key >= start:
            yield key, value


def file_crc32(path: str) -> int:
    """CRC32 (IEEE) of a file's bytes, as TiKV checks an SST's."""
    crc = 0
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def key_not_in_region(key: bytes, region: Region) -> errorpb_pb2.Error:
    """TiKV's KeyNotInRegion error for encoded ``key``."""
    return errorpb_pb2.Error(
        message=f"key {key.hex()} is not in region {region.id}",
        key_not_in_region=errorpb_pb2.KeyNotInRegion(
            key=key, region_id=region.id, start_key=region.start, end_key=region.end
        ),
    )


def region_not_found(region_id: int) -> errorpb_pb2.Error:
    """TiKV's RegionNotFound error."""
    return errorpb_pb2.Error(
        message=f"region {region_id} not found",
        region_not_found=errorpb_pb2.RegionNotFound(region_id=region_id),
    )


def not_leader(region: Region, *, hint: bool) -> errorpb_pb2.Error:
    """TiKV's NotLeader error, naming the current leader when ``hint``."""
    error = errorpb_pb2.NotLeader(region_id=region.id)
    if hint:
        error.leader.CopyFrom(region.leader)
    return errorpb_pb2.Error(message=f"peer is not leader for region {region.id}", not_leader=error)


def server_is_busy(reason: str) -> errorpb_pb2.Error:
    """TiKV's ServerIsBusy error with a back-off hint."""
    return errorpb_pb2.Error(
        message="server is busy",
        server_is_busy=errorpb_pb2.ServerIsBusy(reason=reason, backoff_ms=BUSY_BACKOFF_MS),
    )
