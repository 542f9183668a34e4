"""The importer backend end to end through a tikv-importer started as a separate process: the
contract suite, the example dump (the same store as the local backend makes, exported by
tidb-lightning-ctl), a server killed mid-write, and the crash harness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from importer_support import ImporterProcess, importer_config, wait_for
from lightning_backend_importer.backend import ImporterBackend
from lightning_backend_importer.options import ImporterOptions
from lightning_backend_local.kvproto import import_kvpb_pb2 as kvpb
from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.testing.end_to_end import (
    assert_same_export,
    double_process,
    embedded_export,
    embedded_import,
)

from lightning_core import Chunk, ConfigError, Engine, FileKind, SourceFile, TargetError
from lightning_core.config import config_from_toml
from lightning_core.failpoints import LOG_ENV
from lightning_core.plugins import load_plugins
from lightning_core.testing.contracts import BackendContract, BackendSetup, describe_table
from lightning_core.testing.crash import Run, count_points, kill_and_resume, spread
from lightning_core.testing.mydumper import (
    ALL_TYPES_TABLE,
    assert_myloader_loads_the_same,
    fill_all_types,
    run_mydumper,
)
from lightning_core.testing.sqldump import write_sql_dump
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dump"
ROWS = 1_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ImporterProcess]:
    process = ImporterProcess(tmp_path / "importer").start()
    yield process
    process.kill()


def store_content(path: Path) -> tuple[list[tuple[bytes, bytes]], list[Any]]:
    """Every pair of a store and its catalog's tables."""
    store = EmbeddedStore.open(str(path))
    try:
        return list(store.scan(b"")), store.tables()
    finally:
        store.close()


class TestImporterBackend(BackendContract):
    @pytest.fixture
    def backend_setup(self, tmp_path: Path, server: ImporterProcess) -> Iterator[BackendSetup]:
        path = tmp_path / "db.t.000000000.sql"
        rows = [(i, f"row {i}".encode()) for i in range(ROWS)]
        write_sql_dump(str(path), "t", None, rows, rows_per_statement=50)
        # a writer streams after every batch: the kill comes after two acknowledged streams
        config = config_from_toml(
            importer_config(
                tmp_path, tmp_path, server, extra="local-writer-mem-cache-size = 1\n"
            ).read_text()
        )
        store = EmbeddedStore.open(str(server.store_dir))
        store.create_database("db", "CREATE DATABASE `db`")
        store.create_table("db", "t", "CREATE TABLE `t` (id INT PRIMARY KEY, name VARCHAR(20))")
        store.close()
        source = SourceFile(
            path=str(path), schema="db", table="t", kind=FileKind.DATA, format="sql",
            size=path.stat().st_size,
        )  # fmt: skip
        registry = load_plugins().registry
        yield BackendSetup(
            config=config,
            table=describe_table(registry, config, "db", "t"),
            chunk=Chunk(file=source, index=0),
            rows=ROWS,
            registry=registry,
        )


def _local_store(tmp_path: Path, dump: Path) -> Path:
    """The store the local backend makes of ``dump``."""
    return embedded_import(tmp_path / "local", dump)


def _one_table_dump(tmp_path: Path, rows: int = 3000) -> Path:
    """A dump of one table with an index, 50 rows per INSERT: its engines close only after
    every write, so a server killed while it runs is killed amid writes."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text(
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40), KEY (v));\n"
    )
    values = [(i, f"value {i % 97}".encode()) for i in range(rows)]
    write_sql_dump(str(dump / "d.t.000000000.sql"), "t", None, values, rows_per_statement=50)
    return dump


def _ctl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from lightning_core.cli import ctl_main; "
         "sys.exit(ctl_main())", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_example_dump_gives_the_local_backends_store(
    tmp_path: Path, server: ImporterProcess
) -> None:
    config = importer_config(tmp_path, EXAMPLE, server)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr
    assert store_content(server.store_dir) == store_content(_local_store(tmp_path, EXAMPLE))
    exported = tmp_path / "export"
    listed = _ctl(config, "--export", str(exported))
    assert listed.returncode == 0, listed.stderr
    files = sorted(p.name for p in exported.iterdir())
    assert "shop.customers-schema.sql" in files and "shop.orders.000000000.sql" in files
    # every engine was cleaned up on the server
    assert [p.name for p in server.import_dir.iterdir()] == [".temp"]
    assert not any((server.import_dir / ".temp").iterdir())


def _start_import(config: Path, points: Path) -> subprocess.Popen[str]:
    """tidb-lightning started on ``config``, noting its failpoints in ``points``."""
    return subprocess.Popen(
        [*lightning_command(), "--config", str(config)],
        env={**os.environ, LOG_ENV: str(points)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reached(importing: subprocess.Popen[str], log: Path, name: str, hit: int) -> bool:
    """The import reached failpoint ``name`` ``hit`` times, or ended."""
    if importing.poll() is not None:
        return True
    return log.exists() and log.read_text().split().count(name) >= hit


def _writes(points: Path) -> int:
    return points.read_text().count("importer:written") if points.exists() else 0


def test_a_server_killed_mid_write_is_reported_and_a_rerun_resumes_exactly(
    tmp_path: Path, server: ImporterProcess
) -> None:
    dump = _one_table_dump(tmp_path)
    expected = store_content(_local_store(tmp_path, dump))
    # a stream per statement: many writes to be killed among
    config = importer_config(tmp_path, dump, server, extra="local-writer-mem-cache-size = 1\n")
    points = tmp_path / "failpoints.log"
    importing = _start_import(config, points)
    wait_for(lambda: _writes(points) >= 5)
    server.kill()
    _, stderr = importing.communicate(timeout=120)
    assert importing.returncode == 1, stderr
    assert f"tikv-importer at {server.address} did not answer WriteEngine" in stderr, stderr
    assert "run again to resume" in stderr
    server.start()
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr
    assert store_content(server.store_dir) == expected


def test_a_server_restart_between_writes_is_survived(
    tmp_path: Path, server: ImporterProcess
) -> None:
    """The server restarts (quicker than the client's retries give up): the next write finds
    its engine not open, opens it again and goes on; nothing acknowledged is lost."""
    dump = _one_table_dump(tmp_path)
    expected = store_content(_local_store(tmp_path, dump))
    config = importer_config(tmp_path, dump, server, extra="local-writer-mem-cache-size = 1\n")
    config.write_text(config.read_text().replace("retry-seconds = 3", "retry-seconds = 60"))
    points = tmp_path / "failpoints.log"
    importing = _start_import(config, points)
    wait_for(lambda: _writes(points) >= 5)
    server.kill()
    time.sleep(0.5)
    server.start()
    _, stderr = importing.communicate(timeout=120)
    assert importing.returncode == 0, stderr
    assert "did not have engine" in stderr and "open (it restarted?)" in stderr, stderr
    assert _writes(points) < 2 * 3000 / 50 + 4  # only the unacknowledged streams again
    assert store_content(server.store_dir) == expected


@pytest.mark.slow
def test_every_kill_of_the_client_resumes_to_exactly_the_source(
    tmp_path: Path, server: ImporterProcess
) -> None:
    dump = tmp_path / "dump"
    shutil.copytree(EXAMPLE, dump)
    config = importer_config(tmp_path, dump, server, region_concurrency=2)
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        (tmp_path / "cp.json").unlink(missing_ok=True)
        server.kill()
        shutil.rmtree(server.store_dir, ignore_errors=True)
        shutil.rmtree(server.import_dir, ignore_errors=True)
        server.start()

    counts = count_points(command)
    expected = store_content(server.store_dir)
    assert expected[0]
    phases = {name.split(":")[0] for name in counts}
    assert {"schema", "chunk", "importer", "engine", "post", "complete"} <= phases, counts

    def clean(run: Run) -> None:
        assert "internal error" not in run.stderr, run.stderr

    points = spread(counts, 20)
    assert len(points) >= 20
    for point in points:
        reset()
        kill_and_resume(command, point, check_resume=clean)
        assert store_content(server.store_dir) == expected, f"killed at {point}"
    # nothing left on the server once the task is done
    assert json.dumps(sorted(p.name for p in server.import_dir.iterdir())) == '[".temp"]'


@pytest.mark.slow
def test_every_kill_of_the_server_resumes_to_exactly_the_source(
    tmp_path: Path, server: ImporterProcess
) -> None:
    """tikv-importer SIGKILLed at points of the client's writes, closes and imports, then
    started again: the import goes on, or stops with one line and a rerun (after
    --checkpoint-error-ignore where an engine's import had failed) finishes it; the store is
    the same every time."""
    dump = tmp_path / "dump"
    shutil.copytree(EXAMPLE, dump)
    config = importer_config(tmp_path, dump, server, region_concurrency=2)
    command = [*lightning_command(), "--config", str(config)]

    def reset() -> None:
        (tmp_path / "cp.json").unlink(missing_ok=True)
        server.kill()
        shutil.rmtree(server.store_dir, ignore_errors=True)
        shutil.rmtree(server.import_dir, ignore_errors=True)
        server.start()

    counts = count_points(command)
    expected = store_content(server.store_dir)
    ours = Counter({n: c for n, c in counts.items() if n.split(":")[0] in ("importer", "chunk")})
    points = spread(ours, 10)
    assert {p.name.split(":")[0] for p in points} == {"importer", "chunk"}
    log = tmp_path / "failpoints.log"
    for point in points:
        reset()
        log.unlink(missing_ok=True)
        importing = _start_import(config, log)
        wait_for(lambda: _reached(importing, log, point.name, point.hit), timeout=120)  # noqa: B023
        server.kill()
        server.start()
        _, stderr = importing.communicate(timeout=300)
        for _ in range(3):
            assert "internal error" not in stderr, stderr
            if importing.returncode == 0:
                break
            assert "tikv-importer at" in stderr, stderr
            if "failed in an earlier run" in stderr:
                ignored = _ctl(config, "--checkpoint-error-ignore=all")
                assert ignored.returncode == 0, ignored.stderr
            rerun = run_lightning(["--config", str(config)])
            importing.returncode, stderr = rerun.returncode, rerun.stderr
        assert importing.returncode == 0, f"killed the server at {point}: {stderr}"
        assert store_content(server.store_dir) == expected, f"killed the server at {point}"


@pytest.mark.slow
def test_a_mydumper_dump_of_every_type_round_trips_through_tikv_importer(
    tmp_path: Path,
    server: ImporterProcess,
    database_pair: tuple[str, str],
    target_connection: Any,
    fresh_database: str,
) -> None:
    """A real mydumper dump of every supported column type through tikv-importer: the store,
    exported by tidb-lightning-ctl and loaded by myloader, equals myloader's load of the
    original dump, and the store equals the local backend's."""
    fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=400, seed=11)
    dump = tmp_path / "dump"
    run_mydumper(fresh_database, str(dump))
    config = importer_config(tmp_path, dump, server)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert store_content(server.store_dir) == store_content(_local_store(tmp_path, dump))
    exported = tmp_path / "export"
    assert _ctl(config, "--export", str(exported)).returncode == 0
    assert_myloader_loads_the_same(target_connection, dump, exported, database_pair)


@pytest.mark.parametrize(
    "source,seed",
    [
        pytest.param("every-type", None, id="every-type"),
        pytest.param("example", None, id="example"),
        pytest.param("every-type", 13, id="every-type-seed-13", marks=pytest.mark.slow),
    ],
)
def test_a_dump_through_tikv_importer_into_the_tikv_double_equals_the_local_import(
    tmp_path: Path,
    server: ImporterProcess,
    source: str,
    seed: int | None,
    database_pair: tuple[str, str],
    target_connection: Any,
    fresh_database: str,
) -> None:
    """With a PD address tikv-importer imports into that cluster — the double with 3 stores,
    as a process of its own: the stores' checksum passes, the export equals the local
    backend's embedded import byte for byte, and myloader loads the every-type export to the
    original's rows."""
    dump = EXAMPLE
    if source == "every-type":
        fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=400, seed=11)
        dump = tmp_path / "dump"
        run_mydumper(fresh_database, str(dump))
    store = tmp_path / "double-store"
    with double_process(store, seed=seed) as pd:
        config = importer_config(tmp_path, dump, server)
        text = config.read_text().replace(f'"{server.store_dir}"', f'"{store}"')
        config.write_text(text.replace("[tidb]\n", f'[tidb]\npd-addr = "{pd}"\n'))
        done = run_lightning(["--config", str(config)])
        assert done.returncode == 0, done.stderr
        assert "checksum pass" in done.stdout + done.stderr  # computed by the stores
        exported = tmp_path / "export"
        listed = _ctl(config, "--export", str(exported))
        assert listed.returncode == 0, listed.stderr
    assert "ranges to ingest into the cluster" in server.log.read_text()
    assert not server.store_dir.exists()  # nothing went to the server's embedded store
    assert_same_export(embedded_export(tmp_path / "embedded", dump), exported)
    if source == "every-type":  # the example's several databases do not fit myloader's -B
        assert_myloader_loads_the_same(target_connection, dump, exported, database_pair)


def test_an_engine_left_closed_by_an_earlier_import_is_named_with_the_cleanup(
    tmp_path: Path, server: ImporterProcess
) -> None:
    dump = _one_table_dump(tmp_path, rows=100)
    stale = Engine("`d`.`t`", 0)
    channel = grpc.insecure_channel(server.address)
    stub = kvpb_grpc.ImportKVStub(channel)
    stub.OpenEngine(kvpb.OpenEngineRequest(uuid=stale.uuid.bytes))
    stub.CloseEngine(kvpb.CloseEngineRequest(uuid=stale.uuid.bytes))
    channel.close()
    config = importer_config(tmp_path, dump, server)
    failed = run_lightning(["--config", str(config)])
    assert failed.returncode == 1
    assert f"--cleanup-engine={stale.uuid}" in failed.stderr, failed.stderr
    cleaned = _ctl(config, f"--cleanup-engine={stale.uuid}")
    assert cleaned.returncode == 0, cleaned.stderr
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    assert store_content(server.store_dir) == store_content(_local_store(tmp_path, dump))


class _FutureImporter(kvpb_grpc.ImportKVServicer):
    def GetVersion(self, request: Any, context: Any) -> Any:
        return kvpb.GetVersionResponse(version="7.5.0", commit="somewhere")


def test_an_unknown_major_version_is_refused_in_one_line(tmp_path: Path) -> None:
    served = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    kvpb_grpc.add_ImportKVServicer_to_server(_FutureImporter(), served)
    port = served.add_insecure_port("127.0.0.1:0")
    served.start()
    try:
        config = config_from_toml(
            task_config(tmp_path, backend="importer").replace(
                "[tikv-importer]\n", f'[tikv-importer]\naddr = "127.0.0.1:{port}"\n'
            )
        )
        backend = ImporterBackend(config=config, task="t", options=ImporterOptions())
        try:
            with pytest.raises(TargetError, match=r"version '7\.5\.0'.*2\.x to 5\.x"):
                backend.prepare(0)
        finally:
            backend.close()
    finally:
        served.stop(None)


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    """``[security]`` on both sides: the server requires a certificate signed by its CA (here
    one self-signed certificate plays every part); a client without TLS is not served."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    paths = f'ca-path = "{cert}"\ncert-path = "{cert}"\nkey-path = "{key}"\n'
    server = ImporterProcess(tmp_path / "importer", extra_config=f"[security]\n{paths}").start()
    try:
        text = task_config(tmp_path, backend="importer").replace(
            "[tikv-importer]\n", f'[tikv-importer]\naddr = "{server.address}"\n'
        )
        secure = ImporterBackend(
            config=config_from_toml(text + f"[security]\n{paths}"),
            task="t",
            options=ImporterOptions(),
        )
        plain = ImporterBackend(
            config=config_from_toml(text), task="t", options=ImporterOptions(retry_seconds=0.5)
        )
        try:
            secure.prepare(0)
            with pytest.raises(TargetError, match="did not answer GetVersion"):
                plain.prepare(0)
        finally:
            secure.close()
            plain.close()
    finally:
        server.kill()


def test_two_rows_with_one_key_stop_the_table_at_its_checksum(
    tmp_path: Path, server: ImporterProcess
) -> None:
    """tikv-importer keeps one pair per key, as the original does; the table's checksum, folded
    from every row written, then differs from the store's and the import stops."""
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "d-schema-create.sql").write_text("CREATE DATABASE d;\n")
    (dump / "d.t-schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY, v TEXT);\n")
    (dump / "d.t.000000000.sql").write_text("INSERT INTO t VALUES (1,'a'),(2,'b');\n")
    (dump / "d.t.000000001.sql").write_text("INSERT INTO t VALUES (3,'c'),(1,'again');\n")
    done = run_lightning(["--config", str(importer_config(tmp_path, dump, server))])
    assert done.returncode == 1
    assert "checksum mismatch" in done.stderr and "`d`.`t`" in done.stderr, done.stderr


def test_a_conflict_strategy_it_cannot_honour_is_refused(tmp_path: Path) -> None:
    config = config_from_toml(
        task_config(tmp_path, backend="importer") + '\n[conflict]\nstrategy = "replace"\n'
    )
    with pytest.raises(ConfigError, match=r"strategy 'replace'.*local backend"):
        ImporterBackend(config=config, task="t", options=ImporterOptions())
