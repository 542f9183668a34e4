"""The PD + TiKV double, driven with raw gRPC stubs: it answers as PD and TiKV answer, refuses
what they refuse, injects faults reproducibly from a seed, and runs as a console script."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from lightning_backend_local.kvproto import (
    checksum_pb2,
    coprocessor_pb2,
    import_sstpb_pb2,
    import_sstpb_pb2_grpc,
    kvrpcpb_pb2,
    metapb_pb2,
    pdpb_pb2,
    pdpb_pb2_grpc,
    tikvpb_pb2_grpc,
)
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.testing import (
    CHECKSUM_REQUEST_TYPE,
    Fault,
    FaultPlan,
    TikvDouble,
)

from lightning_core import KVChecksum
from lightning_core.kv.memcomparable import decode_bytes, encode_bytes

TABLE = b"t\x80\x00\x00\x00\x00\x00\x00\x05_r"


def row_key(handle: int) -> bytes:
    """A record key of table 5."""
    return TABLE + (handle | 1 << 63).to_bytes(8, "big")


def rows(handles: range, *, width: int = 20) -> list[tuple[bytes, bytes]]:
    return [(row_key(h), b"v%d" % h * (width // 2)) for h in handles]


class Client:
    """Raw stubs on a running double."""

    def __init__(self, double: TikvDouble) -> None:
        self.double = double
        self.channels: list[grpc.Channel] = []
        self.pd = pdpb_pb2_grpc.PDStub(self._channel(double.pd_address))
        addresses = double.store_addresses()
        self.tikv = {i: tikvpb_pb2_grpc.TikvStub(self._channel(a)) for i, a in addresses.items()}
        self.sst = {
            i: import_sstpb_pb2_grpc.ImportSSTStub(self._channel(a)) for i, a in addresses.items()
        }

    def _channel(self, address: str) -> grpc.Channel:
        channel = grpc.insecure_channel(address)
        self.channels.append(channel)
        return channel

    def close(self) -> None:
        for channel in self.channels:
            channel.close()

    def header(self) -> pdpb_pb2.RequestHeader:
        return pdpb_pb2.RequestHeader(cluster_id=self.double.cluster.cluster_id)

    def region(self, raw_key: bytes) -> pdpb_pb2.GetRegionResponse:
        return self.pd.GetRegion(
            pdpb_pb2.GetRegionRequest(header=self.header(), region_key=encode_bytes(raw_key))
        )

    def context(self, found: pdpb_pb2.GetRegionResponse) -> kvrpcpb_pb2.Context:
        return kvrpcpb_pb2.Context(
            region_id=found.region.id, region_epoch=found.region.region_epoch, peer=found.leader
        )

    def split(self, raw_key: bytes, *keys: bytes) -> kvrpcpb_pb2.SplitRegionResponse:
        found = self.region(raw_key)
        return self.tikv[found.leader.store_id].SplitRegion(
            kvrpcpb_pb2.SplitRegionRequest(context=self.context(found), split_keys=list(keys))
        )

    def write(
        self,
        store_id: int,
        region: metapb_pb2.Region,
        pairs: Sequence[tuple[bytes, bytes]],
        *,
        sst_uuid: bytes,
        batch: int = 3,
    ) -> import_sstpb_pb2.WriteResponse:
        return self.sst[store_id].Write(iter(write_requests(region, pairs, sst_uuid, batch)))

    def write_all(
        self, found: pdpb_pb2.GetRegionResponse, pairs: Sequence[tuple[bytes, bytes]]
    ) -> list[import_sstpb_pb2.SSTMeta]:
        """Write to every peer; the leader's metas."""
        sst_uuid = uuid.uuid4().bytes
        metas = {}
        for peer in found.region.peers:
            response = self.write(peer.store_id, found.region, pairs, sst_uuid=sst_uuid)
            metas[peer.store_id] = list(response.metas)
        return metas[found.leader.store_id]

    def ingest(
        self, found: pdpb_pb2.GetRegionResponse, metas: Sequence[import_sstpb_pb2.SSTMeta]
    ) -> import_sstpb_pb2.IngestResponse:
        return self.sst[found.leader.store_id].MultiIngest(
            import_sstpb_pb2.MultiIngestRequest(context=self.context(found), ssts=list(metas))
        )

    def checksum(self, raw_key: bytes, start: bytes, end: bytes) -> coprocessor_pb2.Response:
        found = self.region(raw_key)
        request = coprocessor_pb2.Request(
            context=self.context(found),
            tp=CHECKSUM_REQUEST_TYPE,
            data=checksum_pb2.ChecksumRequest(
                scan_on=checksum_pb2.Table, algorithm=checksum_pb2.Crc64_Xor
            ).SerializeToString(),
            ranges=[coprocessor_pb2.KeyRange(start=start, end=end)],
            start_ts=1 << 40,
        )
        return self.tikv[found.leader.store_id].Coprocessor(request)


def write_requests(
    region: metapb_pb2.Region, pairs: Sequence[tuple[bytes, bytes]], sst_uuid: bytes, batch: int
) -> Iterator[import_sstpb_pb2.WriteRequest]:
    meta = import_sstpb_pb2.SSTMeta(
        uuid=sst_uuid,
        region_id=region.id,
        region_epoch=region.region_epoch,
        range=import_sstpb_pb2.Range(
            start=encode_bytes(pairs[0][0]), end=encode_bytes(pairs[-1][0])
        ),
    )
    yield import_sstpb_pb2.WriteRequest(meta=meta)
    for i in range(0, len(pairs), batch):
        chunk = [import_sstpb_pb2.Pair(key=k, value=v) for k, v in pairs[i : i + batch]]
        yield import_sstpb_pb2.WriteRequest(
            batch=import_sstpb_pb2.WriteBatch(commit_ts=100, pairs=chunk)
        )


def stored(store_dir: Path) -> list[tuple[bytes, bytes]]:
    store = EmbeddedStore.open(str(store_dir))
    try:
        return list(store.scan(TABLE))
    finally:
        store.close()


def start_double(path: Path, **options: Any) -> TikvDouble:
    return TikvDouble(store_dir=str(path), **options).start()


@pytest.fixture
def double(tmp_path: Path) -> Iterator[TikvDouble]:
    running = start_double(tmp_path / "store")
    yield running
    running.stop()


@pytest.fixture
def client(double: TikvDouble) -> Iterator[Client]:
    stubs = Client(double)
    yield stubs
    stubs.close()


def four_store_client(tmp_path: Path) -> tuple[TikvDouble, Client]:
    running = start_double(tmp_path / "store4", stores=4)
    return running, Client(running)


# --- PD ---------------------------------------------------------------------------------------


def test_get_members_tells_the_cluster_id_without_checking_one(client: Client) -> None:
    members = client.pd.GetMembers(pdpb_pb2.GetMembersRequest(header=pdpb_pb2.RequestHeader()))
    assert members.header.cluster_id == client.double.cluster.cluster_id
    assert members.leader.client_urls == [f"http://{client.double.pd_address}"]
    assert list(members.members) == [members.leader]


def test_a_wrong_cluster_id_is_refused_as_pd_refuses_it(client: Client) -> None:
    need = client.double.cluster.cluster_id
    wrong = pdpb_pb2.RequestHeader(cluster_id=need + 7)
    with pytest.raises(grpc.RpcError) as refused:
        client.pd.GetAllStores(pdpb_pb2.GetAllStoresRequest(header=wrong))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == f"mismatch cluster id, need {need} but got {need + 7}"
    with pytest.raises(grpc.RpcError) as refused:
        list(client.pd.Tso(iter([pdpb_pb2.TsoRequest(header=wrong, count=1)])))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    old = client.header()
    client.double.cluster.change_cluster_id()
    with pytest.raises(grpc.RpcError) as refused:
        client.pd.GetRegion(pdpb_pb2.GetRegionRequest(header=old, region_key=b""))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert client.pd.GetRegion(pdpb_pb2.GetRegionRequest(header=client.header())).region.id


def test_tso_is_strictly_increasing_and_counts_logical_timestamps(client: Client) -> None:
    requests = [pdpb_pb2.TsoRequest(header=client.header(), count=n) for n in (1, 10, 1, 3)]
    answers = list(client.pd.Tso(iter(requests)))
    assert [a.count for a in answers] == [1, 10, 1, 3]
    firsts = [(a.timestamp.physical << 18) + a.timestamp.logical - a.count + 1 for a in answers]
    lasts = [(a.timestamp.physical << 18) + a.timestamp.logical for a in answers]
    for last, first in zip(lasts, firsts[1:], strict=False):
        assert first > last
    assert abs(answers[0].timestamp.physical - time.time() * 1000) < 60_000
    with pytest.raises(grpc.RpcError):
        list(client.pd.Tso(iter([pdpb_pb2.TsoRequest(header=client.header(), count=0)])))


def test_every_store_pd_lists_serves_import_sst(client: Client) -> None:
    stores = client.pd.GetAllStores(
        pdpb_pb2.GetAllStoresRequest(header=client.header(), exclude_tombstone_stores=True)
    ).stores
    assert {s.id: s.address for s in stores} == client.double.store_addresses()
    assert len(stores) == 3
    for store in stores:
        with grpc.insecure_channel(store.address) as channel:
            mode = import_sstpb_pb2_grpc.ImportSSTStub(channel).GetMode(
                import_sstpb_pb2.GetModeRequest()
            )
        assert mode.mode == import_sstpb_pb2.Normal
    one = client.pd.GetStore(pdpb_pb2.GetStoreRequest(header=client.header(), store_id=2))
    assert one.store.id == 2 and one.stats.capacity >= one.stats.available > 0


def test_regions_by_key_by_id_and_by_scan_follow_splits(client: Client) -> None:
    first = client.region(b"")
    assert first.region.start_key == b"" and first.region.end_key == b""
    assert len(first.region.peers) == 3 and first.leader in first.region.peers
    split = client.split(row_key(0), row_key(300), row_key(100))
    assert [r.end_key for r in split.regions] == [
        encode_bytes(row_key(100)),
        encode_bytes(row_key(300)),
        b"",
    ]
    assert split.regions[-1].id == first.region.id, "the right part keeps the id"
    assert {r.region_epoch.version for r in split.regions} == {
        first.region.region_epoch.version + 2
    }
    middle = client.region(row_key(150))
    assert middle.region == split.regions[1]
    by_id = client.pd.GetRegionByID(
        pdpb_pb2.GetRegionByIDRequest(header=client.header(), region_id=middle.region.id)
    )
    assert by_id.region == middle.region and by_id.leader == middle.leader
    missing = client.pd.GetRegionByID(
        pdpb_pb2.GetRegionByIDRequest(header=client.header(), region_id=999_999)
    )
    assert not missing.HasField("region") and not missing.header.HasField("error")
    scan = client.pd.ScanRegions(
        pdpb_pb2.ScanRegionsRequest(
            header=client.header(),
            start_key=encode_bytes(row_key(150)),
            end_key=encode_bytes(row_key(400)),
        )
    )
    assert [r.id for r in scan.region_metas] == [r.id for r in split.regions[1:]]
    assert [r.region for r in scan.regions] == list(scan.region_metas)
    assert [r.leader for r in scan.regions] == list(scan.leaders)
    limited = client.pd.ScanRegions(
        pdpb_pb2.ScanRegionsRequest(header=client.header(), start_key=b"", limit=2)
    )
    assert len(limited.regions) == 2
    previous = client.pd.GetPrevRegion(
        pdpb_pb2.GetRegionRequest(header=client.header(), region_key=encode_bytes(row_key(150)))
    )
    assert previous.region == split.regions[0]


def test_scatter_moves_peers_and_reports_a_running_operator_then_success(
    tmp_path: Path,
) -> None:
    double, client = four_store_client(tmp_path)
    try:
        before = client.region(b"").region
        answer = client.pd.ScatterRegion(
            pdpb_pb2.ScatterRegionRequest(header=client.header(), regions_id=[before.id])
        )
        assert answer.finished_percentage == 100
        after = client.region(b"").region
        assert after.region_epoch.conf_ver == before.region_epoch.conf_ver + 2
        assert after.region_epoch.version == before.region_epoch.version
        assert {p.id for p in after.peers} != {p.id for p in before.peers}
        request = pdpb_pb2.GetOperatorRequest(header=client.header(), region_id=before.id)
        statuses = [client.pd.GetOperator(request) for _ in range(4)]
        assert [s.status for s in statuses] == [pdpb_pb2.RUNNING] * 2 + [pdpb_pb2.SUCCESS] * 2
        assert {s.desc for s in statuses} == {b"scatter-region"}
        none = client.pd.GetOperator(
            pdpb_pb2.GetOperatorRequest(header=client.header(), region_id=424242)
        )
        assert none.header.error.type == pdpb_pb2.REGION_NOT_FOUND
        unknown = client.pd.ScatterRegion(
            pdpb_pb2.ScatterRegionRequest(header=client.header(), region_id=424242)
        )
        assert unknown.header.error.type == pdpb_pb2.REGION_NOT_FOUND
    finally:
        client.close()
        double.stop()


# --- SplitRegion ------------------------------------------------------------------------------


def test_split_region_refuses_what_tikv_refuses(client: Client) -> None:
    client.split(b"", row_key(100))
    right = client.region(row_key(100))
    outside = client.split(row_key(100), row_key(50))
    assert outside.region_error.key_not_in_region.key == encode_bytes(row_key(50))
    at_start = client.split(row_key(100), row_key(100))
    assert at_start.region_error.HasField("key_not_in_region")
    twice = client.split(row_key(100), row_key(200), row_key(200))
    assert "duplicate" in twice.region_error.message
    assert client.split(row_key(100)).region_error.message == "missing split key"
    follower = next(p for p in right.region.peers if p.store_id != right.leader.store_id)
    not_leader = client.tikv[follower.store_id].SplitRegion(
        kvrpcpb_pb2.SplitRegionRequest(context=client.context(right), split_keys=[row_key(200)])
    )
    assert not_leader.region_error.not_leader.leader == right.leader
    client.split(row_key(100), row_key(300))
    stale = client.tikv[right.leader.store_id].SplitRegion(
        kvrpcpb_pb2.SplitRegionRequest(context=client.context(right), split_keys=[row_key(400)])
    )
    current = stale.region_error.epoch_not_match.current_regions
    assert client.region(row_key(400)).region in current
    assert client.region(b"").region.end_key == encode_bytes(row_key(100)), "nothing changed"


def test_a_two_way_split_fills_left_and_right(client: Client) -> None:
    split = client.split(b"", row_key(7))
    assert split.left.end_key == split.right.start_key == encode_bytes(row_key(7))
    assert list(split.regions) == [split.left, split.right]


# --- Write and ingest -------------------------------------------------------------------------


def test_write_then_multi_ingest_lands_in_the_store_and_checksums_over_the_wire(
    client: Client, tmp_path: Path
) -> None:
    pairs = [*rows(range(10)), (row_key(10), b"x" * 300), (row_key(11), b"y" * 256)]
    found = client.region(row_key(0))
    metas = client.write_all(found, pairs)
    assert sorted(m.cf_name for m in metas) == ["default", "write"]
    by_cf = {m.cf_name: m for m in metas}
    assert (by_cf["write"].total_kvs, by_cf["default"].total_kvs) == (12, 2)
    assert len({m.uuid for m in metas}) == 1
    assert all(m.length > 0 and m.region_id == found.region.id for m in metas)
    assert not client.ingest(found, metas).HasField("error")
    assert stored(tmp_path / "store") == pairs
    answer = client.checksum(row_key(0), TABLE, TABLE[:-1] + b"s")
    assert not answer.HasField("region_error") and not answer.other_error
    remote = checksum_pb2.ChecksumResponse.FromString(answer.data)
    local = KVChecksum()
    local.update(pairs)
    assert (remote.checksum, remote.total_kvs, remote.total_bytes) == (
        local.checksum,
        local.total_kvs,
        local.total_bytes,
    )
    assert not os.listdir(tmp_path / "store/tikv-double/store-1"), "ingested files are gone"


def test_ingest_of_one_meta_at_a_time_works_too(client: Client, tmp_path: Path) -> None:
    found = client.region(row_key(0))
    pairs = rows(range(5))
    (meta,) = client.write_all(found, pairs)
    leader = client.sst[found.leader.store_id]
    answer = leader.Ingest(import_sstpb_pb2.IngestRequest(context=client.context(found), sst=meta))
    assert not answer.HasField("error")
    assert stored(tmp_path / "store") == pairs


def write_error(client: Client, requests: Sequence[import_sstpb_pb2.WriteRequest]) -> str:
    with pytest.raises(grpc.RpcError) as refused:
        client.sst[1].Write(iter(requests))
    assert refused.value.code() == grpc.StatusCode.UNKNOWN
    return str(refused.value.details())


def test_write_refuses_what_tikv_refuses(client: Client) -> None:
    client.split(b"", row_key(100))
    found = client.region(row_key(0))
    meta, *batches = write_requests(found.region, rows(range(6)), uuid.uuid4().bytes, 2)
    assert "InvalidChunk" in write_error(client, batches)
    assert "InvalidChunk" in write_error(client, [meta, meta])

    def batch(*handles: int) -> import_sstpb_pb2.WriteRequest:
        pairs = [import_sstpb_pb2.Pair(key=row_key(h), value=b"v") for h in handles]
        return import_sstpb_pb2.WriteRequest(
            batch=import_sstpb_pb2.WriteBatch(commit_ts=1, pairs=pairs)
        )

    assert "unsorted key" in write_error(client, [meta, batch(3, 2)])
    assert "duplicate key" in write_error(client, [meta, batch(2, 2)])
    # the order holds across the batches of one stream, not only within one
    assert "unsorted key" in write_error(client, [meta, batch(2, 3), batch(1)])
    assert "duplicate key" in write_error(client, [meta, *batches, batch(5)])
    wide = list(write_requests(found.region, rows(range(98, 102)), uuid.uuid4().bytes, 2))
    assert "KeyNotInRegion" in write_error(client, wide)
    narrow = import_sstpb_pb2.WriteRequest()
    narrow.CopyFrom(meta)
    narrow.meta.range.end = encode_bytes(row_key(1))
    assert "outside the meta's range" in write_error(client, [narrow, *batches])
    stale = import_sstpb_pb2.WriteRequest()
    stale.CopyFrom(meta)
    stale.meta.region_epoch.version -= 1
    assert "RequestTooOld" in write_error(client, [stale, *batches])
    newer = import_sstpb_pb2.WriteRequest()
    newer.CopyFrom(meta)
    newer.meta.region_epoch.conf_ver += 1
    assert "RequestTooNew" in write_error(client, [newer, *batches])
    short = import_sstpb_pb2.WriteRequest()
    short.CopyFrom(meta)
    short.meta.uuid = b"123"
    assert "Uuid" in write_error(client, [short, *batches])
    assert client.sst[1].Write(iter([meta, *batches])).metas
    assert "FileExists" in write_error(client, [meta, *batches])


def test_write_to_a_store_without_a_peer_of_the_region_is_refused(tmp_path: Path) -> None:
    double, client = four_store_client(tmp_path)
    try:
        found = client.region(b"")
        (other,) = {1, 2, 3, 4} - {p.store_id for p in found.region.peers}
        with pytest.raises(grpc.RpcError) as refused:
            client.write(other, found.region, rows(range(3)), sst_uuid=uuid.uuid4().bytes)
        assert "RequestTooNew" in str(refused.value.details())
    finally:
        client.close()
        double.stop()


def test_ingest_refuses_what_tikv_refuses(client: Client, tmp_path: Path) -> None:
    found = client.region(row_key(0))
    metas = client.write_all(found, rows(range(20)))
    follower = next(p for p in found.region.peers if p.store_id != found.leader.store_id)
    request = import_sstpb_pb2.MultiIngestRequest(context=client.context(found), ssts=metas)
    at_follower = client.sst[follower.store_id].MultiIngest(request).error
    assert at_follower.not_leader.leader == found.leader
    elsewhere = client.context(found)
    elsewhere.peer.CopyFrom(follower)
    wrong_store = client.sst[found.leader.store_id].MultiIngest(
        import_sstpb_pb2.MultiIngestRequest(context=elsewhere, ssts=metas)
    )
    assert wrong_store.error.store_not_match.request_store_id == follower.store_id
    unknown = import_sstpb_pb2.SSTMeta()
    unknown.CopyFrom(metas[0])
    unknown.uuid = uuid.uuid4().bytes
    assert client.ingest(found, [unknown]).error.HasField("stale_command")
    bad_cf = import_sstpb_pb2.SSTMeta()
    bad_cf.CopyFrom(metas[0])
    bad_cf.cf_name = "lock"
    assert "invalid cf name" in client.ingest(found, [bad_cf]).error.message
    other_region = import_sstpb_pb2.SSTMeta()
    other_region.CopyFrom(metas[0])
    other_region.region_id = 4242
    assert client.ingest(found, [other_region]).error.region_not_found.region_id == 4242
    gone = client.sst[found.leader.store_id].MultiIngest(
        import_sstpb_pb2.MultiIngestRequest(
            context=kvrpcpb_pb2.Context(region_id=4242, peer=found.leader), ssts=metas
        )
    )
    assert gone.error.region_not_found.region_id == 4242
    client.split(row_key(0), row_key(10))
    stale = client.ingest(found, metas).error
    assert stale.HasField("epoch_not_match")
    assert {r.id for r in stale.epoch_not_match.current_regions} >= {
        client.region(row_key(0)).region.id,
        client.region(row_key(15)).region.id,
    }
    # the current epoch, but a region that no longer covers the whole range
    now = client.region(row_key(0))
    moved = import_sstpb_pb2.SSTMeta()
    moved.CopyFrom(metas[0])
    moved.region_id = now.region.id
    moved.region_epoch.CopyFrom(now.region.region_epoch)
    assert client.ingest(now, [moved]).error.key_not_in_region.key == encode_bytes(row_key(19))
    assert stored(tmp_path / "store") == []


def test_ingest_needs_every_peer_to_hold_the_same_sst(client: Client, tmp_path: Path) -> None:
    found = client.region(row_key(0))
    sst_uuid = uuid.uuid4().bytes
    leader = found.leader.store_id
    metas = client.write(leader, found.region, rows(range(4)), sst_uuid=sst_uuid).metas
    missing = client.ingest(found, metas).error
    assert "has no copy" in missing.message
    for peer in found.region.peers:
        if peer.store_id != leader:
            client.write(peer.store_id, found.region, rows(range(1, 5)), sst_uuid=sst_uuid)
    assert "has no copy" in client.ingest(found, metas).error.message
    assert stored(tmp_path / "store") == []


def test_re_ingest_of_a_file_is_stale_and_of_the_same_keys_is_idempotent(
    client: Client, tmp_path: Path
) -> None:
    found = client.region(row_key(0))
    pairs = rows(range(30))
    metas = client.write_all(found, pairs)
    assert not client.ingest(found, metas).HasField("error")
    again = client.ingest(found, metas).error
    assert again.HasField("stale_command") and "not exist" in again.message
    assert not client.ingest(found, client.write_all(found, pairs)).HasField("error")
    assert stored(tmp_path / "store") == pairs


def test_switch_mode_goes_back_to_normal_by_itself(tmp_path: Path) -> None:
    double = start_double(tmp_path / "store", import_mode_timeout=0.3)
    client = Client(double)
    try:
        to_import = import_sstpb_pb2.SwitchModeRequest(mode=import_sstpb_pb2.Import)
        for stub in client.sst.values():
            stub.SwitchMode(to_import)
        modes = {s.GetMode(import_sstpb_pb2.GetModeRequest()).mode for s in client.sst.values()}
        assert modes == {import_sstpb_pb2.Import}
        client.sst[1].SwitchMode(import_sstpb_pb2.SwitchModeRequest(mode=import_sstpb_pb2.Normal))
        assert client.sst[1].GetMode(import_sstpb_pb2.GetModeRequest()).mode == 0
        time.sleep(0.4)
        modes = {s.GetMode(import_sstpb_pb2.GetModeRequest()).mode for s in client.sst.values()}
        assert modes == {import_sstpb_pb2.Normal}
    finally:
        client.close()
        double.stop()


def test_checksum_refuses_other_requests_and_ranges_outside_the_region(client: Client) -> None:
    client.split(b"", row_key(10))
    found = client.region(row_key(0))
    dag = client.tikv[found.leader.store_id].Coprocessor(
        coprocessor_pb2.Request(context=client.context(found), tp=103)
    )
    assert "checksum" in dag.other_error
    wide = client.checksum(row_key(0), TABLE, TABLE[:-1] + b"s")
    assert wide.region_error.key_not_in_region.key == encode_bytes(TABLE[:-1] + b"s")
    inside = client.checksum(row_key(0), TABLE, row_key(10))
    assert checksum_pb2.ChecksumResponse.FromString(inside.data).total_kvs == 0
    follower = next(p for p in found.region.peers if p.store_id != found.leader.store_id)
    request = coprocessor_pb2.Request(context=client.context(found), tp=CHECKSUM_REQUEST_TYPE)
    assert client.tikv[follower.store_id].Coprocessor(request).region_error.HasField("not_leader")


# --- faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize("hint", [True, False])
def test_not_leader_moves_the_leader_and_says_so(client: Client, hint: bool) -> None:
    client.double.faults.inject(Fault.NOT_LEADER if hint else Fault.NOT_LEADER_NO_HINT)
    found = client.region(row_key(0))
    error = client.ingest(found, client.write_all(found, rows(range(3)))).error
    now = client.region(row_key(0))
    assert now.leader.store_id != found.leader.store_id
    assert error.not_leader.region_id == found.region.id
    assert error.not_leader.HasField("leader") is hint
    if hint:
        assert error.not_leader.leader == now.leader
    assert not client.ingest(now, client.write_all(now, rows(range(3)))).HasField("error")


def test_epoch_not_match_splits_the_region_and_lists_the_current_ones(client: Client) -> None:
    client.double.faults.inject(Fault.EPOCH_NOT_MATCH)
    found = client.region(row_key(0))
    error = client.ingest(found, client.write_all(found, rows(range(10)))).error
    current = error.epoch_not_match.current_regions
    assert len(current) == 2
    assert [r.id for r in current] == [client.region(row_key(0)).region.id, found.region.id]
    split_at, _ = decode_bytes(current[0].end_key)
    assert split_at == row_key(9)


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        (Fault.SERVER_IS_BUSY, "server_is_busy"),
        (Fault.PROPOSAL_DROPPED, None),
        (Fault.DISK_FULL, "disk_full"),
    ],
)
def test_transient_and_fatal_store_errors(client: Client, fault: Fault, field: str | None) -> None:
    client.double.faults.inject(fault)
    found = client.region(row_key(0))
    metas = client.write_all(found, rows(range(3)))
    error = client.ingest(found, metas).error
    if field is None:
        assert error.message == "raft: proposal dropped"
    else:
        assert error.HasField(field)
    assert client.region(row_key(0)) == found, "the cluster did not change"
    assert not client.ingest(found, metas).HasField("error")


def test_region_not_found_moves_the_peer_off_the_store(tmp_path: Path) -> None:
    double, client = four_store_client(tmp_path)
    try:
        double.faults.inject(Fault.REGION_NOT_FOUND)
        found = client.region(b"")
        error = client.ingest(found, client.write_all(found, rows(range(3)))).error
        assert error.region_not_found.region_id == found.region.id
        now = client.region(b"")
        assert found.leader.store_id not in {p.store_id for p in now.region.peers}
        assert not client.ingest(now, client.write_all(now, rows(range(3)))).HasField("error")
    finally:
        client.close()
        double.stop()


def test_a_split_during_write_fails_the_ingest_not_the_write(client: Client) -> None:
    client.double.faults.inject(Fault.SPLIT_DURING_WRITE)
    found = client.region(row_key(0))
    sst_uuid = uuid.uuid4().bytes
    leader = found.leader.store_id
    metas = client.write(leader, found.region, rows(range(8)), sst_uuid=sst_uuid).metas
    assert metas, "the stream that met the split succeeds"
    follower = next(p.store_id for p in found.region.peers if p.store_id != leader)
    with pytest.raises(grpc.RpcError) as late:
        client.write(follower, found.region, rows(range(8)), sst_uuid=sst_uuid)
    assert "RequestTooOld" in str(late.value.details())
    assert client.ingest(found, metas).error.HasField("epoch_not_match")


def test_a_dropped_stream_is_unavailable(client: Client) -> None:
    client.double.faults.inject(Fault.DROPPED_STREAM)
    found = client.region(row_key(0))
    with pytest.raises(grpc.RpcError) as dropped:
        client.write(1, found.region, rows(range(9)), sst_uuid=uuid.uuid4().bytes)
    assert dropped.value.code() == grpc.StatusCode.UNAVAILABLE


def split_at(client: Client, keys: Sequence[bytes]) -> None:
    """Split the regions at raw ``keys``, retrying region errors (faults)."""
    for key in keys:
        for _ in range(100):
            if not client.split(key, key).HasField("region_error"):
                break
        else:
            raise AssertionError("the faults never let up")


def import_with_retries(client: Client, pairs: Sequence[tuple[bytes, bytes]]) -> int:
    """Write and ingest 25 pairs at a time region by region, retrying as Lightning does
    (re-read the region and redo the write); the number of attempts."""
    attempts = 0
    pending = [pairs[i : i + 25] for i in range(0, len(pairs), 25)]
    while pending:
        part = pending.pop(0)
        attempts += 1
        assert attempts < 500, "the faults never let up"
        found = client.region(part[0][0])
        end = found.region.end_key
        inside = [p for p in part if not end or encode_bytes(p[0]) < end]
        if len(inside) < len(part):
            pending.insert(0, part[len(inside) :])
        try:
            metas = client.write_all(found, inside)
        except grpc.RpcError:
            pending.insert(0, inside)
            continue
        if client.ingest(found, metas).HasField("error"):
            pending.insert(0, inside)
    return attempts


def assert_tiled(double: TikvDouble) -> None:
    """The regions cover every key once, each with a leader among its peers on distinct
    stores."""
    regions = double.cluster.regions()
    assert regions[0].start == b"" and regions[-1].end == b""
    for left, right in itertools.pairwise(regions):
        assert left.end == right.start and left.start < left.end
    for region in regions:
        stores = [p.store_id for p in region.peers]
        assert len(set(stores)) == len(stores) == min(3, len(double.cluster.store_ids))
        assert region.leader_store in stores


def run_seed(path: Path, seed: int, pairs: Sequence[tuple[bytes, bytes]], **options: Any) -> list:
    """Import ``pairs`` through a double with faults from ``seed``; the faults it fired."""
    double = start_double(path, faults=FaultPlan(seed, rate=0.3), **options)
    client = Client(double)
    try:
        split_at(client, [pairs[i][0] for i in range(25, len(pairs), 25)])
        import_with_retries(client, pairs)
        assert_tiled(double)
    finally:
        client.close()
        double.stop()
    assert stored(path) == pairs
    return double.faults.fired


def test_faults_from_a_seed_are_reproducible_and_end_with_every_pair_once(
    tmp_path: Path,
) -> None:
    pairs = rows(range(200))
    fired = [run_seed(tmp_path / f"run{run}", seed, pairs) for run, seed in enumerate([11, 11, 12])]
    assert len(fired[0]) > 5
    assert fired[0] == fired[1]
    assert fired[0] != fired[2]


@pytest.mark.slow
@pytest.mark.parametrize("stores", [1, 3, 5])
def test_many_seeds_end_with_every_pair_once(tmp_path: Path, stores: int) -> None:
    pairs = rows(range(100))
    for seed in range(20):
        assert run_seed(tmp_path / f"seed{seed}", seed, pairs, stores=stores) is not None


# --- console script ---------------------------------------------------------------------------


def start_console_double(store_dir: Path) -> tuple[subprocess.Popen[str], list[list[str]]]:
    """``lightning-tikv-double`` with 2 stores, and the lines it printed."""
    script = Path(sys.executable).parent / "lightning-tikv-double"
    process = subprocess.Popen(
        [str(script), "--addr", "127.0.0.1:0", "--store-dir", str(store_dir), "--stores", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline().split() for _ in range(4)]
    assert [line[0] for line in lines] == ["pd", "store", "store", "cluster-id"], lines
    return process, lines


def stop_console_double(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def test_console_script_serves_until_sigterm(tmp_path: Path) -> None:
    process, lines = start_console_double(tmp_path / "s")
    try:
        with grpc.insecure_channel(lines[0][1]) as channel:
            members = pdpb_pb2_grpc.PDStub(channel).GetMembers(pdpb_pb2.GetMembersRequest())
        assert members.header.cluster_id == int(lines[3][1])
        with grpc.insecure_channel(lines[1][2]) as channel:
            import_sstpb_pb2_grpc.ImportSSTStub(channel).GetMode(import_sstpb_pb2.GetModeRequest())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        stop_console_double(process)


def test_another_process_can_use_the_store_between_ingests(tmp_path: Path) -> None:
    """The double opens the store only around its calls: a process holding it makes an ingest
    busy (retryable); once idle, the double lets go of it."""
    process, lines = start_console_double(tmp_path / "s")
    channels = [grpc.insecure_channel(line[-1]) for line in lines[:3]]
    try:
        pd = pdpb_pb2_grpc.PDStub(channels[0])
        header = pdpb_pb2.RequestHeader(cluster_id=int(lines[3][1]))
        found = pd.GetRegion(pdpb_pb2.GetRegionRequest(header=header, region_key=b""))
        stores = {i + 1: import_sstpb_pb2_grpc.ImportSSTStub(c) for i, c in enumerate(channels[1:])}
        context = kvrpcpb_pb2.Context(
            region_id=found.region.id, region_epoch=found.region.region_epoch, peer=found.leader
        )

        def write_and_ingest(pairs: list[tuple[bytes, bytes]]) -> import_sstpb_pb2.IngestResponse:
            sst_uuid = uuid.uuid4().bytes
            metas = []
            for peer in found.region.peers:
                requests = write_requests(found.region, pairs, sst_uuid, 100)
                answer = stores[peer.store_id].Write(requests)
                if peer.store_id == found.leader.store_id:
                    metas = list(answer.metas)
            request = import_sstpb_pb2.MultiIngestRequest(context=context, ssts=metas)
            return stores[found.leader.store_id].MultiIngest(request)

        time.sleep(0.5)
        held = EmbeddedStore.open(str(tmp_path / "s"))
        try:
            busy = write_and_ingest(rows(range(3)))
        finally:
            held.close()
        assert busy.error.HasField("server_is_busy")
        assert not write_and_ingest(rows(range(5))).HasField("error")
        time.sleep(0.5)
        assert stored(tmp_path / "s") == rows(range(5))
    finally:
        for channel in channels:
            channel.close()
        stop_console_double(process)


def test_console_script_says_which_port_is_taken(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "lightning-tikv-double"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [str(script), "--addr", f"127.0.0.1:{port}", "--store-dir", str(tmp_path / "s")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert run.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr


def test_deletions_remove_keys_and_long_values_need_their_default_meta(
    client: Client, tmp_path: Path
) -> None:
    found = client.region(row_key(0))
    pairs = [*rows(range(4)), (row_key(4), b"L" * 400)]
    assert not client.ingest(found, client.write_all(found, pairs)).HasField("error")
    sst_uuid = uuid.uuid4().bytes
    meta = import_sstpb_pb2.SSTMeta(
        uuid=sst_uuid,
        region_id=found.region.id,
        region_epoch=found.region.region_epoch,
        range=import_sstpb_pb2.Range(start=encode_bytes(row_key(1)), end=encode_bytes(row_key(5))),
    )
    changes = import_sstpb_pb2.WriteBatch(
        commit_ts=200,
        pairs=[
            import_sstpb_pb2.Pair(key=row_key(1), op=import_sstpb_pb2.Pair.Delete),
            import_sstpb_pb2.Pair(key=row_key(3), op=import_sstpb_pb2.Pair.Delete),
            import_sstpb_pb2.Pair(key=row_key(5), value=b"M" * 300),
        ],
    )
    requests = [
        import_sstpb_pb2.WriteRequest(meta=meta),
        import_sstpb_pb2.WriteRequest(batch=changes),
    ]
    metas = {}
    for peer in found.region.peers:
        answer = client.sst[peer.store_id].Write(iter(requests))
        metas[peer.store_id] = {m.cf_name: m for m in answer.metas}
    leader = metas[found.leader.store_id]
    assert (leader["write"].total_kvs, leader["default"].total_kvs) == (3, 1)
    alone = client.ingest(found, [leader["write"]])
    assert "ingest its write and default metas together" in alone.error.message
    assert stored(tmp_path / "store") == pairs
    assert not client.ingest(found, [leader["write"], leader["default"]]).HasField("error")
    assert stored(tmp_path / "store") == [pairs[0], pairs[2], pairs[4], (row_key(5), b"M" * 300)]


def test_concurrent_writes_and_ingests_of_many_regions(tmp_path: Path) -> None:
    double = start_double(tmp_path / "store", faults=FaultPlan(5, rate=0.2))
    client = Client(double)
    pairs = rows(range(400))
    try:
        split_at(client, [pairs[i][0] for i in range(40, 400, 40)])
        parts = [pairs[i : i + 40] for i in range(0, 400, 40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda part: import_with_retries(client, part), parts))
    finally:
        client.close()
        double.stop()
    assert stored(tmp_path / "store") == pairs
    assert double.faults.fired


def test_a_stopped_store_is_unavailable_until_it_restarts(client: Client) -> None:
    found = client.region(b"")
    leader = found.leader.store_id
    client.double.stop_store(leader)
    with pytest.raises(grpc.RpcError) as lost:
        client.sst[leader].GetMode(import_sstpb_pb2.GetModeRequest(), timeout=5)
    assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
    assert client.region(b"").leader.store_id == leader, "PD still names it"
    client.double.restart_store(leader)
    # the channel reconnects after its back-off
    request = import_sstpb_pb2.GetModeRequest()
    client.sst[leader].GetMode(request, wait_for_ready=True, timeout=30)
    assert not client.ingest(found, client.write_all(found, rows(range(3)))).HasField("error")
