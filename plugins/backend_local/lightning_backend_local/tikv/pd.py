"""The PD client: members and the cluster ID, timestamps, stores, regions, scatter.

``GetMembers`` (which PD answers without checking the cluster ID) finds the leader and the
cluster ID; every later request carries that ID in its header, and a PD that answers with
another ID — a different cluster behind the same address — stops the import. Requests go to
the leader; when it stops answering, or says it is not the leader any more, the members are
asked again and the request is retried at the new leader."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
import grpc

from lightning_backend_local.kvproto import pdpb_pb2, pdpb_pb2_grpc
from lightning_backend_local.tikv.channels import Channels, host_port, stub
from lightning_backend_local.tikv.regions import Region
from lightning_backend_local.tikv.wire import region_from_proto
from lightning_core import TargetError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Regions asked for per ScanRegions call.
SCAN_PAGE = 128
#: Seconds a PD call may take.
PD_TIMEOUT = 10.0
#: Rounds of asking every known PD for the leader before the import stops.
LEADER_ROUNDS = 5

_RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class PDError(TargetError):
    """PD refused a request, or no PD answered."""


class ClusterChanged(PDError):
    """PD answers for another cluster than the one the import started on."""


@attrs.frozen
class Store:
    """A TiKV store as PD lists it."""

    id: int
    address: str
    labels: tuple[tuple[str, str], ...] = ()
    peer_address: str = ""

    @property
    def is_tiflash(self) -> bool:
        """TiFlash stores hold learner peers; they have no import mode to switch."""
        return ("engine", "tiflash") in self.labels

    @property
    def write_address(self) -> str:
        """Where a region's peer on this store takes writes: TiFlash serves ImportSST at its
        peer address, TiKV at its client address."""
        return self.peer_address if self.is_tiflash and self.peer_address else self.address


class PDClient:
    """A client of one PD cluster (``[tidb] pd-addr``: one or more addresses)."""

    def __init__(
        self, pd_addr: str, channels: Channels, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._urls = [host_port(u) for u in pd_addr.split(",") if u.strip()]
        if not self._urls:
            raise PDError("[tidb] pd-addr is empty: give PD's host:port (or --pd-urls)")
        self._channels = channels
        self._sleep = sleep
        self._lock = threading.Lock()
        self.cluster_id = 0
        self._leader = ""
        self._service: Any = None
        self._find_leader()

    @property
    def leader(self) -> str:
        """``host:port`` of the PD leader in use."""
        return self._leader

    def _find_leader(self) -> None:
        errors: list[str] = []
        for url in list(self._urls):
            service = stub(pdpb_pb2_grpc.PDStub, self._channels.get(url))
            try:
                members = service.GetMembers(
                    pdpb_pb2.GetMembersRequest(header=pdpb_pb2.RequestHeader()),
                    timeout=PD_TIMEOUT,
                )
            except grpc.RpcError as exc:
                errors.append(f"{url}: {_status(exc)}")
                continue
            cluster_id = members.header.cluster_id
            if self.cluster_id and cluster_id != self.cluster_id:
                raise ClusterChanged(
                    f"PD at {url} belongs to cluster {cluster_id}, but this import started on "
                    f"cluster {self.cluster_id}: [tidb] pd-addr now leads to another cluster; "
                    "point it back at the cluster of this import"
                )
            if not members.leader.client_urls:
                errors.append(f"{url}: no leader elected")
                continue
            self.cluster_id = cluster_id
            for member in members.members:
                for client_url in member.client_urls:
                    if host_port(client_url) not in self._urls:
                        self._urls.append(host_port(client_url))
            self._leader = host_port(members.leader.client_urls[0])
            self._stub = stub(pdpb_pb2_grpc.PDStub, self._channels.get(self._leader))
            return
        raise PDError(
            f"no PD leader found at [tidb] pd-addr ({'; '.join(errors)}); check that PD is up "
            "and the address is PD's client URL (port 2379 by default)"
        )

    def _header(self) -> pdpb_pb2.RequestHeader:
        return pdpb_pb2.RequestHeader(cluster_id=self.cluster_id)

    def _call(self, what: str, call: Callable[[Any], T]) -> T:
        """``call(service)`` at the leader, following a leader change."""
        last = ""
        for attempt in range(LEADER_ROUNDS):
            with self._lock:
                service = self._stub
            assert service is not None
            try:
                return call(service)
            except grpc.RpcError as exc:
                code = exc.code()
                last = _status(exc)
                if code is grpc.StatusCode.FAILED_PRECONDITION and "cluster" in last:
                    raise ClusterChanged(
                        f"PD {self._leader} refused to {what}: {last}; [tidb] pd-addr leads to "
                        "another cluster than the one this import started on"
                    ) from exc
                if code not in _RETRIED and "not leader" not in last.lower():
                    raise PDError(f"PD {self._leader} failed to {what}: {last}") from exc
            log.info("PD %s did not answer (%s); looking for the leader", self._leader, last)
            self._sleep(min(0.2 * 2**attempt, 3.0))
            with self._lock:
                try:
                    self._find_leader()
                except ClusterChanged:
                    raise
                except PDError as exc:
                    last = str(exc)
        raise PDError(f"PD did not {what} after {LEADER_ROUNDS} attempts: {last}")

    @staticmethod
    def _check(what: str, header: pdpb_pb2.ResponseHeader) -> None:
        if header.error.type != pdpb_pb2.OK:
            name = pdpb_pb2.ErrorType.Name(header.error.type)
            raise PDError(f"PD refused to {what}: {name} {header.error.message}".rstrip())

    def tso(self) -> int:
        """A fresh timestamp (``physical << 18 | logical``)."""

        def call(service: Any) -> int:
            request = pdpb_pb2.TsoRequest(header=self._header(), count=1)
            responses = service.Tso(iter([request]), timeout=PD_TIMEOUT)
            for response in responses:
                self._check("give a timestamp", response.header)
                stamp = response.timestamp
                return int((stamp.physical << 18) | stamp.logical)
            raise PDError("PD closed the timestamp stream without an answer")

        return self._call("give a timestamp", call)

    def stores(self) -> list[Store]:
        """Every store that is not a tombstone."""

        def call(service: Any) -> list[Store]:
            response = service.GetAllStores(
                pdpb_pb2.GetAllStoresRequest(header=self._header(), exclude_tombstone_stores=True),
                timeout=PD_TIMEOUT,
            )
            self._check("list the stores", response.header)
            return [
                Store(
                    s.id,
                    s.address,
                    tuple((label.key, label.value) for label in s.labels),
                    s.peer_address,
                )
                for s in response.stores
            ]

        return self._call("list the stores", call)

    def scan_regions(self, start: bytes, end: bytes) -> list[Region]:
        """The regions over encoded keys ``[start, end)`` (empty ``end``: to the last),
        in order, with their leaders where PD knows them."""
        found: list[Region] = []
        cursor = start
        while True:
            page = self._call(
                "scan regions", functools.partial(self._scan_page, start=cursor, end=end)
            )
            if not page:
                return found
            found.extend(page)
            cursor = page[-1].end
            if not cursor or (end and cursor >= end):
                return found

    def _scan_page(self, service: Any, start: bytes, end: bytes) -> list[Region]:
        response = service.ScanRegions(
            pdpb_pb2.ScanRegionsRequest(
                header=self._header(), start_key=start, end_key=end, limit=SCAN_PAGE
            ),
            timeout=PD_TIMEOUT,
        )
        self._check("scan regions", response.header)
        if response.regions:
            return [region_from_proto(r.region, r.leader) for r in response.regions]
        # older PDs fill only the parallel lists (and may leave the leader empty)
        leaders: Sequence[object] = list(response.leaders)
        return [
            region_from_proto(meta, response.leaders[i] if i < len(leaders) else None)
            for i, meta in enumerate(response.region_metas)
        ]

    def scatter(self, region_ids: Sequence[int]) -> None:
        """Ask PD to spread the replicas of new regions over the stores."""
        if not region_ids:
            return

        def call(service: Any) -> None:
            response = service.ScatterRegion(
                pdpb_pb2.ScatterRegionRequest(
                    header=self._header(),
                    region_id=region_ids[0],
                    regions_id=list(region_ids),
                    retry_limit=3,
                ),
                timeout=PD_TIMEOUT,
            )
            self._check("scatter regions", response.header)
            if response.failed_regions_id:
                log.info("PD did not scatter regions %s", list(response.failed_regions_id))

        self._call("scatter regions", call)

    def scattering(self, region_id: int) -> bool:
        """True while the region's scatter operator runs."""

        def call(service: Any) -> bool:
            response = service.GetOperator(
                pdpb_pb2.GetOperatorRequest(header=self._header(), region_id=region_id),
                timeout=PD_TIMEOUT,
            )
            if response.header.error.type == pdpb_pb2.REGION_NOT_FOUND:
                return False
            self._check("report the operator of a region", response.header)
            return bool(response.desc == b"scatter-region" and response.status == pdpb_pb2.RUNNING)

        return self._call("report the operator of a region", call)


def _status(exc: grpc.RpcError) -> str:
    code = exc.code()
    details = exc.details()
    return f"{code.name if code is not None else 'UNKNOWN'} {details or ''}".rstrip()
