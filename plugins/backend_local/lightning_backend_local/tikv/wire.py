"""Conversions between kvproto messages and the job's own types (regions, region errors)."""

from __future__ import annotations

from lightning_backend_local.kvproto import errorpb_pb2, kvrpcpb_pb2, metapb_pb2
from lightning_backend_local.tikv.job import ErrorKind, RegionError
from lightning_backend_local.tikv.regions import Peer, Region


def region_from_proto(region: metapb_pb2.Region, leader: metapb_pb2.Peer | None = None) -> Region:
    """A ``metapb.Region`` (and its leader, when known; id 0 means unknown)."""
    peers = tuple(Peer(p.id, p.store_id) for p in region.peers)
    known = leader is not None and leader.id != 0
    return Region(
        id=region.id,
        start=region.start_key,
        end=region.end_key,
        conf_ver=region.region_epoch.conf_ver,
        version=region.region_epoch.version,
        peers=peers,
        leader=Peer(leader.id, leader.store_id) if known and leader is not None else None,
    )


def context_of(region: Region, leader: Peer) -> kvrpcpb_pb2.Context:
    """The ``kvrpcpb.Context`` that addresses ``region`` at ``leader``."""
    return kvrpcpb_pb2.Context(
        region_id=region.id,
        region_epoch=epoch_of(region),
        peer=metapb_pb2.Peer(id=leader.id, store_id=leader.store_id),
    )


def epoch_of(region: Region) -> metapb_pb2.RegionEpoch:
    """The region's epoch as a message."""
    return metapb_pb2.RegionEpoch(conf_ver=region.conf_ver, version=region.version)


def region_error(error: errorpb_pb2.Error) -> RegionError | None:
    """The job's view of an ``errorpb.Error`` (None: the message is empty, no error)."""
    if error.HasField("not_leader"):
        leader = error.not_leader.leader
        hint = Peer(leader.id, leader.store_id) if error.not_leader.HasField("leader") else None
        if hint is not None and hint.id == 0:
            hint = None
        return RegionError(kind=ErrorKind.NOT_LEADER, message=error.message, leader=hint)
    if error.HasField("epoch_not_match"):
        current = tuple(region_from_proto(r) for r in error.epoch_not_match.current_regions)
        return RegionError(
            kind=ErrorKind.EPOCH_NOT_MATCH, message=error.message, current_regions=current
        )
    if error.HasField("server_is_busy"):
        busy = error.server_is_busy
        return RegionError(
            kind=ErrorKind.SERVER_IS_BUSY,
            message=busy.reason or error.message,
            backoff_ms=int(busy.backoff_ms),
        )
    if error.HasField("disk_full"):
        stores = ", ".join(str(s) for s in error.disk_full.store_id)
        reason = error.disk_full.reason or error.message
        return RegionError(kind=ErrorKind.DISK_FULL, message=f"stores {stores}: {reason}")
    kinds = (
        ("region_not_found", ErrorKind.REGION_NOT_FOUND),
        ("stale_command", ErrorKind.STALE_COMMAND),
        ("key_not_in_region", ErrorKind.KEY_NOT_IN_REGION),
    )
    for field, kind in kinds:
        if error.HasField(field):
            return RegionError(kind=kind, message=error.message)
    if "proposal dropped" in error.message:
        return RegionError(kind=ErrorKind.PROPOSAL_DROPPED, message=error.message)
    if error.ListFields():
        return RegionError(kind=ErrorKind.OTHER, message=error.message or str(error).strip())
    return None
