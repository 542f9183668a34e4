"""The cluster client's pure parts — planning along regions and the per-range job state
machine — and its calls against the strict PD + TiKV protocol double."""

from __future__ import annotations

import itertools
import random
import subprocess
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning_backend_local.kvproto import pdpb_pb2_grpc
from lightning_backend_local.testing import Cluster as DoubleCluster
from lightning_backend_local.testing import TikvDouble
from lightning_backend_local.testing.pd_double import PDDouble
from lightning_backend_local.tikv.channels import Channels
from lightning_backend_local.tikv.job import (
    ErrorKind,
    JobError,
    JobState,
    RangeJob,
    RegionError,
    SSTMeta,
    Written,
)
from lightning_backend_local.tikv.pd import ClusterChanged, PDClient, PDError
from lightning_backend_local.tikv.regions import KeyRange, Peer, Region, cut_along, split_keys

from lightning_core import ConfigError, encode_bytes
from lightning_core.config_sections import SecurityConfig

PEERS = (Peer(11, 1), Peer(12, 2), Peer(13, 3))


def region(rid: int, start: bytes, end: bytes, version: int = 1) -> Region:
    """A region over raw keys ``[start, end)`` (``end`` empty: +inf), led by its first peer."""
    return Region(
        id=rid,
        start=encode_bytes(start) if start else b"",
        end=encode_bytes(end) if end else b"",
        conf_ver=1,
        version=version,
        peers=PEERS,
        leader=PEERS[0],
    )


def regions_at(bounds: list[bytes], version: int = 1) -> list[Region]:
    """Contiguous regions split at raw ``bounds`` (sorted), covering every key."""
    edges = [b"", *bounds, b""]
    return [region(i + 1, edges[i], edges[i + 1], version) for i in range(len(edges) - 1)]


# --- planning ----------------------------------------------------------------------------------


def test_split_keys_skip_region_starts_and_group_by_region() -> None:
    regions = regions_at([b"m"])
    found = split_keys([b"c", b"m", b"q", b"a", b"c"], regions)
    assert found == {1: [b"a", b"c"], 2: [b"q"]}


def test_cut_along_covers_the_part_exactly_and_marks_gaps() -> None:
    part = KeyRange(b"b", b"y")
    pieces = cut_along(part, [region(1, b"a", b"f"), region(2, b"k", b"p")])
    assert [(p.start, p.end, r.id if r else None) for p, r in pieces] == [
        (b"b", b"f", 1),
        (b"f", b"k", None),
        (b"k", b"p", 2),
        (b"p", b"y", None),
    ]


@given(
    bounds=st.lists(st.binary(min_size=1, max_size=12), max_size=12, unique=True),
    start=st.binary(max_size=12),
    length=st.binary(min_size=1, max_size=4),
)
def test_cut_along_is_a_partition(bounds: list[bytes], start: bytes, length: bytes) -> None:
    part = KeyRange(start, start + length)
    regions = regions_at(sorted(bounds))
    pieces = cut_along(part, regions)
    assert pieces[0][0].start == part.start and pieces[-1][0].end == part.end
    for (left, _), (right, _) in itertools.pairwise(pieces):
        assert left.end == right.start
    for piece, holder in pieces:
        assert holder is not None
        assert holder.holds(encode_bytes(piece.start))


# --- the job state machine -----------------------------------------------------------------------


def written(kvs: int, stores: frozenset[int] = frozenset({1, 2, 3})) -> Written:
    metas = (SSTMeta(uuid=b"u" * 16, cf_name="write", total_kvs=kvs),) if kvs else ()
    return Written(metas=metas, stores=stores, kvs=kvs)


def located_job(kvs: int = 10) -> RangeJob:
    job = RangeJob(KeyRange(b"a", b"z"), kvs)
    job.on_split(())
    job.on_located(regions_at([]))
    assert job.state is JobState.WRITE
    return job


def test_a_clean_run_goes_through_every_state() -> None:
    job = RangeJob(KeyRange(b"a", b"z"), 10)
    seen = [job.state]
    job.on_split((7, 8))
    seen.append(job.state)
    job.on_scattered()
    seen.append(job.state)
    job.on_scatter_finished()
    seen.append(job.state)
    job.on_located(regions_at([]))
    seen.append(job.state)
    job.on_written(written(10))
    seen.append(job.state)
    job.on_ingested()
    seen.append(job.state)
    assert [s.value for s in seen] == [
        "split", "scatter", "wait-scatter", "locate", "write", "ingest", "done",
    ]  # fmt: skip


def test_not_leader_with_a_leader_that_has_the_ssts_retries_the_ingest_there() -> None:
    job = located_job()
    job.on_written(written(10))
    job.on_ingest_failed(RegionError(kind=ErrorKind.NOT_LEADER, leader=PEERS[2]))
    assert job.state is JobState.INGEST
    assert job.head.region is not None and job.head.region.leader == PEERS[2]
    assert job.head.written is not None


def test_not_leader_with_a_leader_elsewhere_or_none_rewrites() -> None:
    for hint in (Peer(99, 9), None):
        job = located_job()
        job.on_written(written(10))
        job.on_ingest_failed(RegionError(kind=ErrorKind.NOT_LEADER, leader=hint))
        assert job.state is JobState.LOCATE
        assert job.head.written is None and job.head.region is None


def test_epoch_not_match_rewrites_each_part_of_the_current_regions() -> None:
    job = located_job()
    job.on_written(written(10))
    current = tuple(regions_at([b"h", b"p"], version=2))
    job.on_ingest_failed(RegionError(kind=ErrorKind.EPOCH_NOT_MATCH, current_regions=current))
    assert job.state is JobState.WRITE
    assert [(p.range.start, p.range.end) for p in job.pending] == [
        (b"a", b"h"), (b"h", b"p"), (b"p", b"z"),
    ]  # fmt: skip
    assert all(p.region is not None and p.region.version == 2 for p in job.pending)
    for kvs in (3, 3, 4):
        job.on_written(written(kvs))
        job.on_ingested()
    assert job.state is JobState.DONE


def test_server_is_busy_retries_the_ingest_and_disk_full_is_fatal() -> None:
    job = located_job()
    job.on_written(written(10))
    job.on_ingest_failed(RegionError(kind=ErrorKind.SERVER_IS_BUSY, backoff_ms=20))
    assert job.state is JobState.INGEST and job.head.written is not None
    with pytest.raises(JobError, match="out of disk space"):
        job.on_ingest_failed(RegionError(kind=ErrorKind.DISK_FULL, message="store 2"))


@pytest.mark.parametrize(
    "kind",
    [ErrorKind.REGION_NOT_FOUND, ErrorKind.STALE_COMMAND, ErrorKind.PROPOSAL_DROPPED,
     ErrorKind.KEY_NOT_IN_REGION, ErrorKind.OTHER],
)  # fmt: skip
def test_other_region_errors_refresh_and_rewrite(kind: ErrorKind) -> None:
    job = located_job()
    job.on_written(written(10))
    job.on_ingest_failed(RegionError(kind=kind))
    assert job.state is JobState.LOCATE and job.head.written is None


def test_a_count_that_does_not_add_up_is_an_error() -> None:
    job = located_job(kvs=11)
    job.on_written(written(10))
    with pytest.raises(JobError, match="10 pairs were ingested but the engine holds 11"):
        job.on_ingested()


def test_a_leader_that_reports_fewer_pairs_than_written_is_an_error() -> None:
    job = located_job()
    short = Written(
        metas=(SSTMeta(uuid=b"u", cf_name="write", total_kvs=9),), stores=frozenset(), kvs=10
    )
    with pytest.raises(JobError, match="lost pairs"):
        job.on_written(short)


def test_retries_without_progress_run_out() -> None:
    job = located_job()
    job.on_written(written(10))
    with pytest.raises(JobError, match="no progress in 30 retries"):
        for _ in range(31):
            job.on_ingest_failed(RegionError(kind=ErrorKind.SERVER_IS_BUSY))


def _random_run(seed: int) -> None:
    """Drive a job against a model cluster whose regions split at random and whose answers
    fail at random; every key of the range must be ingested exactly once."""
    rng = random.Random(seed)
    keys = sorted({bytes([rng.randrange(256), rng.randrange(256)]) for _ in range(200)})
    keyrange = KeyRange(keys[0], keys[-1] + b"\x00")
    bounds: list[bytes] = sorted(set(rng.sample(keys, 3)))
    version = 1
    ingested: list[bytes] = []
    job = RangeJob(keyrange, len(keys), max_attempts=200)
    job.on_split(())
    while job.state is not JobState.DONE:
        if rng.random() < 0.1:  # the cluster splits a region under the job
            bounds = sorted({*bounds, rng.choice(keys)})
            version += 1
        current = regions_at(bounds, version)
        if job.state is JobState.LOCATE:
            job.on_located(current)
        elif job.state is JobState.WRITE:
            piece = job.head
            assert piece.region is not None
            if piece.region.version != version or rng.random() < 0.1:
                job.on_write_failed("epoch changed")
                continue
            inside = [k for k in keys if piece.range.start <= k < piece.range.end]
            job.on_written(written(len(inside)))
        elif job.state is JobState.INGEST:
            piece = job.head
            assert piece.region is not None
            roll = rng.random()
            if piece.region.version != version:
                job.on_ingest_failed(
                    RegionError(kind=ErrorKind.EPOCH_NOT_MATCH, current_regions=tuple(current))
                )
            elif roll < 0.1:
                job.on_ingest_failed(RegionError(kind=ErrorKind.SERVER_IS_BUSY))
            elif roll < 0.2:
                job.on_ingest_failed(
                    RegionError(kind=ErrorKind.NOT_LEADER, leader=rng.choice([*PEERS, None]))
                )
            elif roll < 0.25:
                job.on_ingest_lost("connection reset")
            elif roll < 0.3:
                job.on_ingest_failed(RegionError(kind=ErrorKind.STALE_COMMAND))
            else:
                ingested.extend(k for k in keys if piece.range.start <= k < piece.range.end)
                job.on_ingested()
        covered = sorted([p.range for p in job.pending] + [r for r, _ in job.ingested])
        assert covered[0].start == keyrange.start and covered[-1].end == keyrange.end
        assert all(a.end == b.start for a, b in itertools.pairwise(covered))
    assert ingested == keys


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_faults_never_lose_or_repeat_a_key(seed: int) -> None:
    _random_run(seed)


# --- PD and TLS against the double ----------------------------------------------------------------


def test_pd_gives_increasing_timestamps_and_the_stores(tmp_path: Path) -> None:
    with TikvDouble(store_dir=str(tmp_path / "store"), stores=3) as double:
        channels = Channels(SecurityConfig())
        try:
            pd = PDClient(double.pd_address, channels)
            assert pd.cluster_id == double.cluster.cluster_id
            first, second = pd.tso(), pd.tso()
            assert second > first > 1 << 18
            assert sorted(s.address for s in pd.stores()) == sorted(
                double.store_addresses().values()
            )
        finally:
            channels.close()


def test_a_pd_that_answers_for_another_cluster_stops_the_import(tmp_path: Path) -> None:
    first = TikvDouble(store_dir=str(tmp_path / "a"), cluster_id=1).start()
    port = int(first.pd_address.rsplit(":", 1)[1])
    channels = Channels(SecurityConfig())
    try:
        pd = PDClient(first.pd_address, channels, sleep=lambda _s: None)
        first.stop()
        # another cluster at the same address: its PD, its stores
        with (
            TikvDouble(store_dir=str(tmp_path / "b"), cluster_id=2, port=port),
            pytest.raises(ClusterChanged, match="another cluster"),
        ):
            pd.tso()
    finally:
        first.stop()
        channels.close()


def _certificates(directory: Path) -> tuple[Path, Path, Path, Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
            "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "san.cnf",
                "-out", f"{name}.pem")  # fmt: skip
    ca, server, server_key, client, client_key = (
        directory / n for n in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")
    )
    return ca, server, server_key, client, client_key


def test_channels_speak_tls_with_the_configured_certificates(tmp_path: Path) -> None:
    ca, server_cert, server_key, client_cert, client_key = _certificates(tmp_path)
    cluster = DoubleCluster(store_count=1, cluster_id=7)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    credentials = grpc.ssl_server_credentials(
        [(server_key.read_bytes(), server_cert.read_bytes())],
        root_certificates=ca.read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    address = f"127.0.0.1:{port}"
    pdpb_pb2_grpc.add_PDServicer_to_server(
        PDDouble(cluster, address=address, store_dir=str(tmp_path)), server
    )
    server.start()
    secure = Channels(
        SecurityConfig(ca_path=str(ca), cert_path=str(client_cert), key_path=str(client_key))
    )
    plain = Channels(SecurityConfig())
    try:
        assert secure.secure and PDClient(address, secure).cluster_id == 7
        with pytest.raises(PDError, match="no PD leader found"):
            PDClient(address, plain)
    finally:
        secure.close()
        plain.close()
        server.stop(None)


def test_a_certificate_without_a_ca_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="ca-path is empty"):
        Channels(SecurityConfig(cert_path="client.pem", key_path="client.key"))
