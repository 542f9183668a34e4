"""The PD double: ``pdpb.PD`` over a :class:`~.cluster.Cluster`.

Like PD, every call but GetMembers checks ``header.cluster_id`` and refuses a wrong one with
gRPC FAILED_PRECONDITION "mismatch cluster id, need N but got M"; keys are encoded keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import NoReturn

import grpc

from lightning_backend_local.kvproto import metapb_pb2, pdpb_pb2, pdpb_pb2_grpc
from lightning_backend_local.testing.cluster import SCATTER_DESCRIPTION, Cluster, Region

MEMBER_ID = 1


# The generated servicer base answers UNIMPLEMENTED for the calls the double leaves out; it is
# untyped (mypy sees Any).
class PDDouble(pdpb_pb2_grpc.PDServicer):  # type: ignore[misc]
    """The servicer of ``pdpb.PD``."""

    def __init__(self, cluster: Cluster, *, address: str, store_dir: str) -> None:
        self.cluster = cluster
        self.address = address
        self._store_dir = store_dir

    # --- headers ------------------------------------------------------------------------------

    def _header(self, error: pdpb_pb2.Error | None = None) -> pdpb_pb2.ResponseHeader:
        return pdpb_pb2.ResponseHeader(cluster_id=self.cluster.cluster_id, error=error)

    def _check(self, header: pdpb_pb2.RequestHeader, context: grpc.ServicerContext) -> None:
        need = self.cluster.cluster_id
        if header.cluster_id != need:
            abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"mismatch cluster id, need {need} but got {header.cluster_id}",
            )

    def _member(self) -> pdpb_pb2.Member:
        url = f"http://{self.address}"
        return pdpb_pb2.Member(
            name="pd-double",
            member_id=MEMBER_ID,
            peer_urls=[url],
            client_urls=[url],
            binary_version="double",
        )

    # --- members and time ---------------------------------------------------------------------

    def GetMembers(
        self, request: pdpb_pb2.GetMembersRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetMembersResponse:
        """The one member, which leads; the only call that does not check the cluster id."""
        member = self._member()
        return pdpb_pb2.GetMembersResponse(
            header=self._header(), members=[member], leader=member, etcd_leader=member
        )

    def Tso(
        self, requests: Iterator[pdpb_pb2.TsoRequest], context: grpc.ServicerContext
    ) -> Iterator[pdpb_pb2.TsoResponse]:
        """One answer per request: the largest of ``count`` new timestamps."""
        for request in requests:
            self._check(request.header, context)
            if request.count == 0:
                abort(context, grpc.StatusCode.UNKNOWN, "tso count should be positive")
            physical, logical = self.cluster.allocate_timestamps(request.count)
            yield pdpb_pb2.TsoResponse(
                header=self._header(),
                count=request.count,
                timestamp=pdpb_pb2.Timestamp(physical=physical, logical=logical),
            )

    # --- stores -------------------------------------------------------------------------------

    def _store(self, store_id: int) -> metapb_pb2.Store | None:
        info = self.cluster.stores.get(store_id)
        if info is None:
            return None
        return metapb_pb2.Store(
            id=info.id,
            address=info.address,
            state=metapb_pb2.Up,
            version="double",
            node_state=metapb_pb2.Serving,
        )

    def GetStore(
        self, request: pdpb_pb2.GetStoreRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetStoreResponse:
        """A store and its space (the space of the store directory's file system)."""
        self._check(request.header, context)
        store = self._store(request.store_id)
        if store is None:
            abort(
                context, grpc.StatusCode.UNKNOWN, f"invalid store ID {request.store_id}, not found"
            )
        usage = shutil.disk_usage(self._store_dir)
        stats = pdpb_pb2.StoreStats(
            store_id=store.id,
            capacity=usage.total,
            available=usage.free,
            region_count=sum(1 for r in self.cluster.regions() if r.peer_on(store.id) is not None),
        )
        return pdpb_pb2.GetStoreResponse(header=self._header(), store=store, stats=stats)

    def GetAllStores(
        self, request: pdpb_pb2.GetAllStoresRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetAllStoresResponse:
        """Every store (all Up: none is ever a tombstone)."""
        self._check(request.header, context)
        stores = [self._store(i) for i in self.cluster.store_ids]
        return pdpb_pb2.GetAllStoresResponse(
            header=self._header(), stores=[s for s in stores if s is not None]
        )

    # --- regions ------------------------------------------------------------------------------

    def _region_response(self, region: Region | None) -> pdpb_pb2.GetRegionResponse:
        if region is None:
            # As PD does for an unknown region: a bare header, no error.
            return pdpb_pb2.GetRegionResponse(header=self._header())
        with self.cluster.lock:
            return pdpb_pb2.GetRegionResponse(
                header=self._header(), region=region.meta(), leader=region.leader
            )

    def GetRegion(
        self, request: pdpb_pb2.GetRegionRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetRegionResponse:
        """The region holding the encoded ``region_key``."""
        self._check(request.header, context)
        return self._region_response(self.cluster.region_for_key(request.region_key))

    def GetPrevRegion(
        self, request: pdpb_pb2.GetRegionRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetRegionResponse:
        """The region before the one holding ``region_key`` (none for the first)."""
        self._check(request.header, context)
        with self.cluster.lock:
            found = self.cluster.region_for_key(request.region_key)
            before = [r for r in self.cluster.regions() if r.end == found.start and r.end]
            return self._region_response(before[0] if before else None)

    def GetRegionByID(
        self, request: pdpb_pb2.GetRegionByIDRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetRegionResponse:
        """The region with that id, or a bare header when there is none."""
        self._check(request.header, context)
        return self._region_response(self.cluster.region(request.region_id))

    def ScanRegions(
        self, request: pdpb_pb2.ScanRegionsRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.ScanRegionsResponse:
        """The regions meeting encoded ``[start_key, end_key)``, in both the legacy parallel
        lists and ``regions``."""
        self._check(request.header, context)
        with self.cluster.lock:
            found = self.cluster.scan(request.start_key, request.end_key, request.limit)
            metas = [r.meta() for r in found]
            leaders = [r.leader for r in found]
        return pdpb_pb2.ScanRegionsResponse(
            header=self._header(),
            region_metas=metas,
            leaders=leaders,
            regions=[
                pdpb_pb2.Region(region=m, leader=p) for m, p in zip(metas, leaders, strict=True)
            ],
        )

    def ScatterRegion(
        self, request: pdpb_pb2.ScatterRegionRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.ScatterRegionResponse:
        """Scatter ``regions_id`` (or the deprecated ``region_id``); unknown ids are reported
        in ``failed_regions_id``."""
        self._check(request.header, context)
        ids = list(request.regions_id) or [request.region_id or request.region.id]
        failed = [i for i in ids if not self.cluster.scatter(i)]
        if failed and len(failed) == len(ids) and not request.regions_id:
            error = pdpb_pb2.Error(
                type=pdpb_pb2.REGION_NOT_FOUND, message=f"region {ids[0]} not found"
            )
            return pdpb_pb2.ScatterRegionResponse(header=self._header(error))
        done = 100 * (len(ids) - len(failed)) // len(ids)
        return pdpb_pb2.ScatterRegionResponse(
            header=self._header(), finished_percentage=done, failed_regions_id=failed
        )

    def GetOperator(
        self, request: pdpb_pb2.GetOperatorRequest, context: grpc.ServicerContext
    ) -> pdpb_pb2.GetOperatorResponse:
        """The region's scatter operator: RUNNING for a few polls, then SUCCESS; a region
        with no operator is REGION_NOT_FOUND, as PD answers."""
        self._check(request.header, context)
        running = self.cluster.poll_operator(request.region_id)
        if running is None:
            error = pdpb_pb2.Error(type=pdpb_pb2.REGION_NOT_FOUND, message="Not Found")
            return pdpb_pb2.GetOperatorResponse(header=self._header(error))
        return pdpb_pb2.GetOperatorResponse(
            header=self._header(),
            region_id=request.region_id,
            desc=SCATTER_DESCRIPTION,
            status=pdpb_pb2.RUNNING if running else pdpb_pb2.SUCCESS,
            kind=b"admin,region",
        )


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """End the call with ``code`` and ``message`` (``context.abort`` raises)."""
    context.abort(code, message)
    raise AssertionError("grpc's abort returned")
