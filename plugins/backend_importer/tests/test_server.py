"""tikv-importer as a separate process, driven with raw ImportKV stubs: the configuration and
flags, the errors the original gives, restarts, clients cut off mid-stream, concurrency, and
the status server."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from importer_support import SERVER_COMMAND, ImporterProcess, wait_for
from lightning_backend_importer.server.config import load_config
from lightning_backend_local.kvproto import import_kvpb_pb2 as kvpb
from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc
from lightning_backend_local.kvproto import import_sstpb_pb2 as sstpb
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.testing import TikvDouble

from lightning_core.config import load_config_file
from lightning_core.plugins import load_plugins

TEMPLATE = """\
log-file = "{log}"
log-level = "info"
status-server-address = "127.0.0.1:0"

[server]
addr = "127.0.0.1:0"
grpc-concurrency = 16

[rocksdb]
max-background-jobs = 32

[rocksdb.defaultcf]
write-buffer-size = "1GB"
max-write-buffer-number = 8
compression-per-level = ["lz4", "no", "no", "no", "no", "no", "lz4"]

[rocksdb.writecf]
compression-per-level = ["lz4", "no", "no", "no", "no", "no", "lz4"]

[import]
import-dir = "{import_dir}"
num-threads = 16
num-import-jobs = 24
max-prepare-duration = "5m"
region-split-size = "512MB"
stream-channel-window = 128
max-open-engines = 8
upload-speed-limit = "512MB"
min-available-ratio = 0.05
"""


def pairs(first: int, count: int) -> list[tuple[bytes, bytes]]:
    """Record-key-shaped pairs (``t`` + 8 bytes + ``_r`` + 8 bytes)."""
    return [
        (b"t\x80\x00\x00\x00\x00\x00\x00\x07_r" + i.to_bytes(8, "big"), b"value %d" % i)
        for i in range(first, first + count)
    ]


def head(key: bytes) -> Any:
    return kvpb.WriteEngineRequest(head=kvpb.WriteHead(uuid=key))


def batch(written: list[tuple[bytes, bytes]]) -> Any:
    mutations = [kvpb.Mutation(op=kvpb.Mutation.Put, key=k, value=v) for k, v in written]
    return kvpb.WriteEngineRequest(batch=kvpb.WriteBatch(commit_ts=1 << 40, mutations=mutations))


class Client:
    """Raw stubs to one server."""

    def __init__(self, server: ImporterProcess) -> None:
        self.channel = grpc.insecure_channel(server.address)
        self.stub = kvpb_grpc.ImportKVStub(self.channel)

    def open(self, key: bytes) -> None:
        self.stub.OpenEngine(kvpb.OpenEngineRequest(uuid=key))

    def write(self, key: bytes, written: list[tuple[bytes, bytes]]) -> Any:
        return self.stub.WriteEngine(iter([head(key), batch(written)]))

    def close(self, key: bytes) -> Any:
        return self.stub.CloseEngine(kvpb.CloseEngineRequest(uuid=key))

    def import_(self, key: bytes) -> None:
        self.stub.ImportEngine(kvpb.ImportEngineRequest(uuid=key))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImporterProcess]:
    process = ImporterProcess(tmp_path, extra_config="max-open-engines = 2\n").start(status=True)
    yield process
    process.kill()


@pytest.fixture
def client(server: ImporterProcess) -> Iterator[Client]:
    made = Client(server)
    yield made
    made.channel.close()


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value


def stored(server: ImporterProcess) -> list[tuple[bytes, bytes]]:
    store = EmbeddedStore.open(str(server.store_dir))
    try:
        return list(store.scan(b""))
    finally:
        store.close()


def test_the_template_and_the_original_flags_start_it(tmp_path: Path) -> None:
    config = tmp_path / "tikv-importer.toml"
    config.write_text(TEMPLATE.format(log=tmp_path / "x.log", import_dir=tmp_path / "import"))
    flagged = tmp_path / "flagged"
    started = subprocess.Popen(
        [*SERVER_COMMAND, "-C", str(config), "--import-dir", str(flagged), "--log-level", "warn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert started.stdout is not None
        assert "listening on 127.0.0.1:" in started.stdout.readline()
        assert (flagged / ".temp").is_dir() and not (tmp_path / "import").exists()
    finally:
        started.terminate()
        assert started.wait(timeout=30) == 0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[import]\nimport-dri = "x"\n', 'unknown key "import-dri" in [import]'),
        ("log-levle = 'info'\n", 'unknown key "log-levle" at the top level'),
        ("[rocksdb.writecf]\nblock-size = 1\n", 'unknown key "block-size" in [rocksdb.writecf]'),
        ("[import]\nmax-open-engines = 0\n", "max-open-engines must be greater than 0"),
        ("[import]\nregion-split-size = 'big'\n", "import.region-split-size"),
    ],
)
def test_a_bad_key_aborts_start_up_naming_it(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    done = subprocess.run(
        [*SERVER_COMMAND, "-C", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert named in done.stderr and str(config) in done.stderr, done.stderr


def test_a_write_before_the_head_or_a_second_head_is_an_invalid_chunk(client: Client) -> None:
    key = uuid.uuid4().bytes
    client.open(key)
    first = refused(lambda: client.stub.WriteEngine(iter([batch(pairs(0, 3))])))
    assert first.code() == grpc.StatusCode.UNKNOWN and "InvalidChunk" in str(first.details())
    again = refused(lambda: client.stub.WriteEngine(iter([head(key), head(key)])))
    assert again.code() == grpc.StatusCode.UNKNOWN and "InvalidChunk" in str(again.details())
    assert client.close(key).error.ByteSize() == 0  # the engine is not left bound


@pytest.mark.parametrize("length", [0, 15, 17, 36])
def test_a_uuid_of_other_than_16_bytes_is_refused(client: Client, length: int) -> None:
    bad = b"u" * length
    for call in (
        lambda: client.open(bad),
        lambda: client.stub.WriteEngine(iter([head(bad)])),
        lambda: client.close(bad),
        lambda: client.import_(bad),
        lambda: client.stub.CleanupEngine(kvpb.CleanupEngineRequest(uuid=bad)),
    ):
        error = refused(call)
        assert error.code() == grpc.StatusCode.UNKNOWN and "Uuid" in str(error.details())


def test_an_unknown_engine_is_reported_in_band(client: Client, server: ImporterProcess) -> None:
    key = uuid.uuid4().bytes
    written = client.write(key, pairs(0, 3))
    assert written.error.engine_not_found.uuid == key
    v3 = client.stub.WriteEngineV3(kvpb.WriteEngineV3Request(uuid=key, commit_ts=1))
    assert v3.error.engine_not_found.uuid == key
    assert client.close(key).error.engine_not_found.uuid == key
    client.import_(key)  # as tikv-importer: an unknown engine imports as an empty one
    client.stub.CleanupEngine(kvpb.CleanupEngineRequest(uuid=key))
    assert stored(server) == []


def test_too_many_open_engines_until_one_is_closed(client: Client) -> None:
    first, second, third = (uuid.uuid4().bytes for _ in range(3))
    client.open(first)
    client.open(second)
    client.open(first)  # already open: fine
    error = refused(lambda: client.open(third))
    assert error.code() == grpc.StatusCode.UNKNOWN
    assert "ResourceTemporarilyUnavailable" in str(error.details())
    assert "Too many open engines" in str(error.details())
    client.close(first)
    client.open(third)


def test_a_write_after_close_finds_no_engine_and_it_cannot_be_opened_again(
    client: Client, server: ImporterProcess
) -> None:
    key = uuid.uuid4().bytes
    client.open(key)
    assert client.write(key, pairs(0, 10)).error.ByteSize() == 0
    assert client.close(key).error.ByteSize() == 0
    assert client.write(key, pairs(10, 10)).error.engine_not_found.uuid == key
    reopened = refused(lambda: client.open(key))
    assert "FileExists" in str(reopened.details())
    closed_again = refused(lambda: client.close(key))
    assert "FileExists" in str(closed_again.details())
    client.import_(key)
    assert stored(server) == pairs(0, 10)
    client.import_(key)  # again: nothing more
    assert stored(server) == pairs(0, 10)


def test_closing_an_engine_while_it_is_written_is_refused(client: Client) -> None:
    key = uuid.uuid4().bytes
    client.open(key)
    release = threading.Event()

    def slow() -> Iterator[Any]:
        yield head(key)
        release.wait(30)
        yield batch(pairs(0, 1))

    future = client.stub.WriteEngine.future(slow())
    time.sleep(1.0)  # the server has read the head and bound the engine by then
    assert "EngineInUse" in _close_refusal(client, key)
    release.set()
    assert future.result(timeout=30).error.ByteSize() == 0
    assert client.close(key).error.ByteSize() == 0


def _close_refusal(client: Client, key: bytes) -> str:
    try:
        client.close(key)
    except grpc.RpcError as exc:
        return str(exc.details())
    raise AssertionError("the engine closed while a stream was writing to it")


def test_a_client_cut_off_mid_stream_leaves_the_engine_open(
    client: Client, server: ImporterProcess
) -> None:
    key = uuid.uuid4().bytes
    client.open(key)
    sent = threading.Event()

    def cut() -> Iterator[Any]:
        yield head(key)
        yield batch(pairs(0, 5))
        sent.set()
        threading.Event().wait(30)  # never half-closes

    future = client.stub.WriteEngine.future(cut())
    sent.wait(10)
    future.cancel()
    # the engine is still open, unbound: the client's retry of the same pairs writes and
    # closes it. Whether the cut stream was kept depends on which of gRPC's two events (the
    # request stream's end, the cancellation) the server sees first; either way the retried
    # keys collapse with it, so the content is exact.
    wait_for(lambda: _writes_again(client, key))
    assert client.close(key).error.ByteSize() == 0
    client.import_(key)
    assert stored(server) == pairs(0, 10)


def _writes_again(client: Client, key: bytes) -> bool:
    return bool(client.write(key, pairs(0, 10)).error.ByteSize() == 0)


def test_unclosed_engines_are_not_open_after_a_restart_and_closed_ones_survive(
    client: Client, server: ImporterProcess
) -> None:
    open_one, closed_one = uuid.uuid4().bytes, uuid.uuid4().bytes
    for key in (open_one, closed_one):
        client.open(key)
    client.write(open_one, pairs(0, 20))
    client.write(closed_one, pairs(1000, 20))
    client.close(closed_one)
    server.kill()
    server.start()
    again = Client(server)
    try:
        assert again.write(open_one, pairs(20, 5)).error.engine_not_found.uuid == open_one
        assert again.close(open_one).error.engine_not_found.uuid == open_one
        again.open(open_one)  # opens it again with the streams it acknowledged
        assert again.write(open_one, pairs(20, 5)).error.ByteSize() == 0
        assert again.close(open_one).error.ByteSize() == 0
        again.import_(closed_one)
        again.import_(open_one)
    finally:
        again.channel.close()
    assert stored(server) == pairs(0, 25) + pairs(1000, 20)


def test_several_clients_write_several_engines_at_once(server: ImporterProcess) -> None:
    keys = [uuid.uuid4().bytes for _ in range(2)]
    clients = [Client(server) for _ in range(4)]
    try:
        for key in keys:
            clients[0].open(key)

        def write(number: int) -> None:
            for part in range(10):
                first = number * 10_000 + part * 100
                reply = clients[number].write(keys[number % 2], pairs(first, 100))
                assert reply.error.ByteSize() == 0

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for key in keys:
            clients[0].close(key)
            clients[0].import_(key)
    finally:
        for made in clients:
            made.channel.close()
    expected = sorted(
        p for n in range(4) for part in range(10) for p in pairs(n * 10_000 + part * 100, 100)
    )
    assert stored(server) == expected


def test_version_metrics_and_the_status_server(client: Client, server: ImporterProcess) -> None:
    version = client.stub.GetVersion(kvpb.GetVersionRequest())
    assert (
        version.version.split(".")[0] == "5" and "tidb-lightning-backend-importer" in version.commit
    )
    key = uuid.uuid4().bytes
    client.open(key)
    client.write(key, pairs(0, 7))
    metrics = client.stub.GetMetrics(kvpb.GetMetricsRequest()).prometheus
    assert 'tikv_import_rpc_duration_count{request="write_engine",result="ok"} 1.0' in metrics
    assert "tikv_import_write_pairs_total 7.0" in metrics
    base = f"http://127.0.0.1:{server.status_port}"
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        assert b"tikv_import_open_engines 1.0" in response.read()
    with urllib.request.urlopen(f"{base}/status", timeout=10) as response:
        status = json.load(response)
    assert status["open_engines"] == 1 and status["import_dir"] == str(server.import_dir)


def test_import_without_a_store_or_into_a_cluster_that_does_not_answer_is_refused(
    tmp_path: Path,
) -> None:
    bare = ImporterProcess(tmp_path / "bare")
    bare.config.write_text(f'[import]\nimport-dir = "{bare.import_dir}"\n')
    bare.start()
    client = Client(bare)
    try:
        key = uuid.uuid4().bytes
        error = refused(lambda: client.import_(key))
        assert "store-dir is not set" in str(error.details())
        request = kvpb.ImportEngineRequest(uuid=key, pd_addr="127.0.0.1:1")
        cluster = refused(lambda: client.stub.ImportEngine(request))
        assert "no PD leader found" in str(cluster.details()) and "127.0.0.1:1" in str(
            cluster.details()
        )
    finally:
        client.channel.close()
        assert bare.stop() == 0


def test_switch_mode_with_a_pd_address_switches_every_store_of_that_cluster(
    tmp_path: Path, client: Client
) -> None:
    with TikvDouble(store_dir=str(tmp_path / "double"), stores=3) as double:
        for mode, expected in ((sstpb.Import, "import"), (sstpb.Normal, "normal")):
            client.stub.SwitchMode(
                kvpb.SwitchModeRequest(
                    pd_addr=double.pd_address, request=sstpb.SwitchModeRequest(mode=mode)
                )
            )
            assert {s.mode for s in double.stores.values()} == {mode}, expected


def test_the_examples_are_valid() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples"
    config = load_config(str(examples / "tikv-importer.toml"))
    assert config.server.addr == "127.0.0.1:8287" and config.import_.store_dir
    client = load_config_file(str(examples / "tidb-lightning-importer.toml"))
    options = load_plugins().validate_options(client)
    assert client.tikv_importer.addr == config.server.addr
    assert options["importer"].store_dir == config.import_.store_dir
