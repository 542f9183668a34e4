"""The local backend into a TiKV cluster, against the strict PD + TiKV protocol double: engines'
ranges under random faults (every pair present exactly once), each TiKV error kind, a kill
between ranges and its resume, import mode around an import, and a whole import through
``--pd-urls`` into the double running as a separate process."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from lightning_backend_local.kvproto import import_sstpb_pb2
from lightning_backend_local.sst import write_sst
from lightning_backend_local.store import EmbeddedStore
from lightning_backend_local.testing import Fault, FaultPlan, StoreDouble, TikvDouble
from lightning_backend_local.testing.end_to_end import (
    assert_same_export,
    embedded_export,
)
from lightning_backend_local.testing.end_to_end import double_process as double_process_at
from lightning_backend_local.tikv.channels import Channels
from lightning_backend_local.tikv.cluster import Cluster, StoreLimiter
from lightning_backend_local.tikv.importer import PROGRESS_FILE, ClusterImporter, ImportTuning
from lightning_backend_local.tikv.job import JobError
from lightning_backend_local.tikv.mode import ImportModeKeeper, store_modes
from lightning_backend_local.tikv.pd import PDClient

from lightning_core import TargetError, record_prefix
from lightning_core.config_sections import SecurityConfig
from lightning_core.testing.crash import count_points, run_once, spread
from lightning_core.testing.mydumper import (
    ALL_TYPES_TABLE,
    assert_myloader_loads_the_same,
    fill_all_types,
    run_mydumper,
)
from lightning_core.testing.tasks import lightning_command, run_lightning, task_config

Pairs = list[tuple[bytes, bytes]]

#: Short waits; and more retries than a real cluster needs: at a fault rate of 0.3 per call and
#: store, two writes in three fail (one of three peers), and a split during a write often
#: strikes the same piece again and again.
FAST = ImportTuning(
    range_concurrency=2, backoff=0.001, max_backoff=0.01, scatter_wait=2.0, max_retries=200
)
DEFAULT_SEEDS = 200
VALUE_LENGTHS = (8, 40, 255, 256, 700)
"""Value lengths of the engines' pairs: longer than 255 bytes goes to the default CF too."""


def engine_ranges(
    root: Path, seed: int, ranges: int = 3, per_range: int = 40
) -> tuple[list[str], Pairs]:
    """Range files of one engine under ``root`` (as ``LocalEngine.close`` cuts them): sorted
    record keys of one table; the paths and every pair.

    Values stay at most 255 bytes: the double's write-CF SST holds only the short values
    (TiKV's holds a write record for every key, which is what the client's count check
    relies on), so a long value would make the counts differ."""
    rng = random.Random(seed)
    directory = root / "engine" / "ranges"
    directory.mkdir(parents=True)
    handles = sorted(rng.sample(range(1, 1 << 40), ranges * per_range))
    everything: Pairs = []
    paths = []
    for number in range(ranges):
        pairs = [
            (record_prefix(100) + h.to_bytes(8, "big"), os.urandom(rng.choice(VALUE_LENGTHS)))
            for h in handles[number * per_range : (number + 1) * per_range]
        ]
        path = directory / f"{number:06d}.sst"
        write_sst(str(path), pairs)
        paths.append(str(path))
        everything.extend(pairs)
    return paths, everything


def open_cluster(double: TikvDouble) -> Cluster:
    channels = Channels(SecurityConfig())
    return Cluster(PDClient(double.pd_address, channels), channels, StoreLimiter(0))


def stored(store_dir: Path) -> Pairs:
    store = EmbeddedStore.open(str(store_dir))
    try:
        return list(store.scan(b""))
    finally:
        store.close()


def import_with_faults(tmp_path: Path, seed: int) -> None:
    """One engine through a double that injects faults drawn from ``seed``; the store must
    hold every pair exactly once."""
    paths, pairs = engine_ranges(tmp_path, seed, ranges=2, per_range=20)
    faults = FaultPlan(seed, rate=0.3)
    with TikvDouble(store_dir=str(tmp_path / "store"), faults=faults, scatter_polls=1) as double:
        cluster = open_cluster(double)
        try:
            ClusterImporter(cluster, FAST).import_files(paths)
        finally:
            cluster.close()
    assert stored(tmp_path / "store") == pairs


@pytest.mark.parametrize("seed", range(DEFAULT_SEEDS))
def test_random_faults_leave_every_pair_exactly_once(tmp_path: Path, seed: int) -> None:
    import_with_faults(tmp_path, seed)


@pytest.mark.slow
def test_many_more_fault_seeds(tmp_path: Path) -> None:
    for seed in range(DEFAULT_SEEDS, DEFAULT_SEEDS + 500):
        import_with_faults(tmp_path / str(seed), seed)


@pytest.mark.parametrize("fault", [f for f in Fault if f is not Fault.DISK_FULL])
def test_each_error_kind_is_survived(tmp_path: Path, fault: Fault) -> None:
    paths, pairs = engine_ranges(tmp_path, 1)
    faults = FaultPlan()
    faults.inject(fault, times=2)
    with TikvDouble(store_dir=str(tmp_path / "store"), faults=faults, scatter_polls=1) as double:
        cluster = open_cluster(double)
        try:
            ClusterImporter(cluster, FAST).import_files(paths)
        finally:
            cluster.close()
    assert [f.fault for f in faults.fired] == [fault, fault]
    assert stored(tmp_path / "store") == pairs


def test_disk_full_stops_with_one_line_and_normal_mode_is_restored(tmp_path: Path) -> None:
    paths, _ = engine_ranges(tmp_path, 2)
    faults = FaultPlan()
    faults.inject(Fault.DISK_FULL)
    with TikvDouble(store_dir=str(tmp_path / "store"), faults=faults, scatter_polls=1) as double:
        cluster = open_cluster(double)
        mode = ImportModeKeeper(cluster, interval=60)
        try:
            mode.start()
            assert all(line.endswith(": import") for line in store_modes(cluster))
            with pytest.raises(JobError, match="out of disk space") as failed:
                try:
                    ClusterImporter(cluster, FAST).import_files(paths)
                finally:
                    mode.stop()
            assert "\n" not in str(failed.value)
            assert all(line.endswith(": normal") for line in store_modes(cluster))
        finally:
            cluster.close()


def test_the_keeper_holds_import_mode_past_tikvs_timeout(tmp_path: Path) -> None:
    with TikvDouble(store_dir=str(tmp_path / "store"), import_mode_timeout=1.0) as double:
        cluster = open_cluster(double)
        keeper = ImportModeKeeper(cluster, interval=0.3)
        try:
            keeper.start()
            time.sleep(2.0)  # twice TiKV's timeout: only the refreshes keep the mode
            assert [line.rsplit(": ", 1)[1] for line in store_modes(cluster)] == ["import"] * 3
            keeper.stop()
            assert [line.rsplit(": ", 1)[1] for line in store_modes(cluster)] == ["normal"] * 3
        finally:
            keeper.stop()
            cluster.close()


def test_a_failed_import_restores_normal_mode(tmp_path: Path) -> None:
    """DiskFull in the middle of a tidb-lightning run: one clear line, and the stores are in
    normal mode when the command has returned."""
    faults = FaultPlan()
    faults.inject(Fault.DISK_FULL)
    store_dir = tmp_path / "store"
    with TikvDouble(store_dir=str(store_dir), faults=faults, scatter_polls=1) as double:
        config = _config(tmp_path, "full", EXAMPLE, store_dir, double.pd_address)
        done = run_lightning(["--config", str(config)])
        assert done.returncode == 1
        lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1 and "out of disk space" in lines[0], done.stderr
        assert [store.mode for store in double.stores.values()] == [import_sstpb_pb2.Normal] * 3


_IMPORT_SCRIPT = """
import sys
from lightning_backend_local.tikv.channels import Channels
from lightning_backend_local.tikv.cluster import Cluster, StoreLimiter
from lightning_backend_local.tikv.importer import ClusterImporter, ImportTuning
from lightning_backend_local.tikv.pd import PDClient
from lightning_core.config_sections import SecurityConfig
channels = Channels(SecurityConfig())
cluster = Cluster(PDClient(sys.argv[1], channels), channels, StoreLimiter(0))
ClusterImporter(cluster, ImportTuning(range_concurrency=1)).import_files(sys.argv[2:])
"""


def test_a_kill_between_ranges_resumes_with_the_remaining_ranges(tmp_path: Path) -> None:
    paths, pairs = engine_ranges(tmp_path, 3, ranges=4)
    log = tmp_path / "failpoints.log"

    def run(kill_at: str | None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "TIDB_LIGHTNING_FAILPOINTS": str(log)}
        if kill_at:
            env["TIDB_LIGHTNING_KILL_AT"] = kill_at
        return subprocess.run(
            [sys.executable, "-c", _IMPORT_SCRIPT, double.pd_address, *paths],
            env=env, capture_output=True, text=True, timeout=120, start_new_session=True,
        )  # fmt: skip

    with TikvDouble(store_dir=str(tmp_path / "store"), scatter_polls=1) as double:
        killed = run("local:range-ingested:2")
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        first = log.read_text().splitlines()
        assert first.count("local:range-ingested") == 2
        log.unlink()
        resumed = run(None)
        assert resumed.returncode == 0, resumed.stderr
        second = log.read_text().splitlines()
    assert second.count("local:range-done") == 2  # only the two ranges not recorded
    assert stored(tmp_path / "store") == pairs
    assert (Path(paths[0]).parent.parent / PROGRESS_FILE).exists()


# --- a whole import through --pd-urls, the double as its own process ---------------------------


@pytest.fixture
def double_process(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """``lightning-tikv-double`` with 3 stores (and ``--fault-seed``, when the test is
    parametrized with one): PD's address and its store directory."""
    store_dir = tmp_path / "double-store"
    with double_process_at(store_dir, seed=getattr(request, "param", None)) as pd:
        yield pd, store_dir


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dump"


def _config(tmp_path: Path, name: str, dump: Path, store: Path, pd: str | None) -> Path:
    text = task_config(dump, backend="local", checkpoint=tmp_path / f"{name}.json")
    text = text.replace(
        "[tikv-importer]\n", f'[tikv-importer]\nsorted-kv-dir = "{tmp_path / name}"\n'
    )
    if pd is not None:
        text = text.replace("[tidb]\n", f'[tidb]\npd-addr = "{pd}"\n')
    path = tmp_path / f"{name}.toml"
    path.write_text(text + f'[plugin.local]\nstore-dir = "{store}"\n')
    return path


def _ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from lightning_core.cli import ctl_main; "
         "sys.exit(ctl_main())", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "double_process",
    [pytest.param(None, id="clean"), pytest.param(7, id="seed-7", marks=pytest.mark.slow)],
    indirect=True,
)
def test_the_example_dump_through_pd_urls_equals_the_embedded_import(
    tmp_path: Path, double_process: tuple[str, Path]
) -> None:
    pd, store_dir = double_process
    config = _config(tmp_path, "cluster", EXAMPLE, store_dir, None)
    done = run_lightning(["--config", str(config), "--pd-urls", pd])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr  # computed by the stores
    assert "ranges to ingest into the cluster" in done.stderr  # not the embedded store
    modes = _ctl("--config", str(config), "--pd-urls", pd, "--fetch-mode")
    assert modes.returncode == 0, modes.stderr
    assert modes.stdout.count(": normal") == 3, modes.stdout
    exported = tmp_path / "exported"
    dumped = _ctl("--config", str(config), "--export", str(exported))
    assert dumped.returncode == 0, dumped.stderr

    _assert_same_export(tmp_path, EXAMPLE, exported)


@pytest.mark.parametrize(
    "double_process",
    [pytest.param(None, id="clean"), pytest.param(11, id="seed-11", marks=pytest.mark.slow)],
    indirect=True,
)
def test_a_mydumper_dump_of_every_type_through_pd_urls_equals_the_embedded_import(
    tmp_path: Path,
    double_process: tuple[str, Path],
    target_connection: Any,
    fresh_database: str,
    database_pair: tuple[str, str],
) -> None:
    """A real mydumper dump of every column type (values longer than 255 bytes among them)
    through the double: the stores' checksum passes, the export is the embedded import's byte
    for byte, and myloader loads it to the rows it loads from the original dump."""
    fill_all_types(target_connection, fresh_database, ALL_TYPES_TABLE, rows=400, seed=11)
    dump = tmp_path / "dump"
    run_mydumper(fresh_database, str(dump))
    pd, store_dir = double_process
    config = _config(tmp_path, "cluster", dump, store_dir, None)
    done = run_lightning(["--config", str(config), "--pd-urls", pd])
    assert done.returncode == 0, done.stderr
    assert "checksum pass" in done.stdout + done.stderr
    exported = tmp_path / "exported"
    dumped = _ctl("--config", str(config), "--export", str(exported))
    assert dumped.returncode == 0, dumped.stderr
    _assert_same_export(tmp_path, dump, exported)
    assert_myloader_loads_the_same(target_connection, dump, exported, database_pair)


def _assert_same_export(tmp_path: Path, dump: Path, exported: Path) -> None:
    """``exported`` holds the files an import of ``dump`` into the embedded store exports."""
    assert_same_export(embedded_export(tmp_path / "embedded", dump), exported)


def test_ctl_switches_and_fetches_the_mode(
    tmp_path: Path, double_process: tuple[str, Path]
) -> None:
    pd, store_dir = double_process
    config = _config(tmp_path, "ctl", EXAMPLE, store_dir, pd)
    switched = _ctl("--config", str(config), "--switch-mode=import")
    assert switched.returncode == 0 and switched.stdout.count(": import") == 3, switched
    fetched = _ctl("--config", str(config), "--fetch-mode")
    assert fetched.stdout.count(": import") == 3, fetched
    assert _ctl("--config", str(config), "--switch-mode=normal").returncode == 0
    assert _ctl("--config", str(config), "--fetch-mode").stdout.count(": normal") == 3


@pytest.mark.slow
def test_every_kill_on_the_cluster_path_resumes_to_exactly_the_source(tmp_path: Path) -> None:
    """The crash harness through the double: 20+ kill points — schema, runs, close, split,
    write, ingest, post-import; after each kill the stores are back in normal mode once TiKV's
    import-mode timeout passed, and the resumed import ends with exactly the source."""
    timeout = 1.0
    cron = '[cron]\nswitch-mode = "300ms"\n'

    def command(name: str, double: TikvDouble) -> list[str]:
        config = _config(tmp_path, name, EXAMPLE, Path(double.store_dir), double.pd_address)
        # small ranges, so that engines have several and split; one table, engine and range
        # at a time, so that no job's split moves another's regions and every run hits each
        # point as often
        text = config.read_text()
        assert "table-concurrency = 6\n" in text and "[tikv-importer]\n" in text
        text = text.replace(
            "table-concurrency = 6\n", "table-concurrency = 1\nindex-concurrency = 1\n"
        )
        text = text.replace(
            "[tikv-importer]\n",
            '[tikv-importer]\nregion-split-size = "4KiB"\nrange-concurrency = 1\n',
        )
        config.write_text(text + cron)
        return [*lightning_command(), "--config", str(config)]

    with TikvDouble(store_dir=str(tmp_path / "count-store"), import_mode_timeout=timeout) as double:
        counts = count_points(command("count", double))
    with TikvDouble(store_dir=str(tmp_path / "again-store"), import_mode_timeout=timeout) as double:
        again = count_points(command("again", double))
    assert again == counts  # else a kill point's last hit may never come
    expected = stored(tmp_path / "count-store")
    assert expected
    assert {"local:range-split", "local:range-written", "local:range-ingested"} <= set(counts)
    points = spread(counts, 24)
    assert len(points) >= 20
    for number, point in enumerate(points):
        name = f"kill{number}"
        with TikvDouble(
            store_dir=str(tmp_path / f"{name}-store"), import_mode_timeout=timeout
        ) as double:
            run = command(name, double)
            assert run_once(run, kill_at=point).killed, point
            time.sleep(timeout + 0.3)
            assert {s.mode for s in double.stores.values()} == {import_sstpb_pb2.Normal}, point
            for _ in range(3):
                resumed = run_once(run)
                assert "internal error" not in resumed.stderr, resumed.stderr
                if resumed.returncode == 0:
                    break
            assert resumed.returncode == 0, f"killed at {point}: {resumed.stderr}"
        assert stored(tmp_path / f"{name}-store") == expected, f"killed at {point}"


def test_a_resume_against_another_cluster_stops(tmp_path: Path) -> None:
    paths, _ = engine_ranges(tmp_path, 4, ranges=2, per_range=5)
    faults = FaultPlan()
    faults.inject(Fault.DISK_FULL)
    with TikvDouble(store_dir=str(tmp_path / "a"), faults=faults, cluster_id=1) as double:
        cluster = open_cluster(double)
        try:
            with pytest.raises(JobError):
                ClusterImporter(cluster, FAST).import_files(paths)
        finally:
            cluster.close()
    with TikvDouble(store_dir=str(tmp_path / "b"), cluster_id=2) as double:
        cluster = open_cluster(double)
        try:
            with pytest.raises(TargetError, match="partly imported into cluster 1"):
                ClusterImporter(cluster, FAST).import_files(paths)
        finally:
            cluster.close()


def test_no_pd_ends_in_one_clear_line(tmp_path: Path) -> None:
    config = _config(tmp_path, "nopd", EXAMPLE, tmp_path / "store", "127.0.0.1:1")
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "no PD leader found" in lines[0], done.stderr
    fetched = _ctl("--config", str(config), "--fetch-mode")
    assert fetched.returncode == 1 and "no PD leader found" in fetched.stderr


def test_fetch_mode_without_pd_says_what_to_set(tmp_path: Path) -> None:
    config = _config(tmp_path, "embedded", EXAMPLE, tmp_path / "store", None)
    fetched = _ctl("--config", str(config), "--fetch-mode")
    assert fetched.returncode == 1 and "set [tidb] pd-addr" in fetched.stderr


def test_sigterm_during_an_import_restores_normal_mode(tmp_path: Path) -> None:
    faults = FaultPlan()
    faults.inject(Fault.SERVER_IS_BUSY, times=12)  # the ingests back off for many seconds
    store_dir = tmp_path / "store"
    log = tmp_path / "failpoints.log"
    with TikvDouble(store_dir=str(store_dir), faults=faults, scatter_polls=1) as double:
        config = _config(tmp_path, "term", EXAMPLE, store_dir, double.pd_address)
        process = subprocess.Popen(
            [*lightning_command(), "--config", str(config)],
            env={**os.environ, "TIDB_LIGHTNING_FAILPOINTS": str(log)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not (log.exists() and "local:range-written" in log.read_text()):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert {s.mode for s in double.stores.values()} == {import_sstpb_pb2.Import}
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 143, stderr
        assert {s.mode for s in double.stores.values()} == {import_sstpb_pb2.Normal}


def test_stores_without_multi_ingest_get_one_ingest_per_sst(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def unimplemented(self: StoreDouble, request: object, context: grpc.ServicerContext) -> None:
        calls.append("MultiIngest")
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiIngest is not served")

    monkeypatch.setattr(StoreDouble, "MultiIngest", unimplemented)
    paths, pairs = engine_ranges(tmp_path, 5)
    with TikvDouble(store_dir=str(tmp_path / "store"), scatter_polls=1) as double:
        cluster = open_cluster(double)
        try:
            ClusterImporter(cluster, FAST).import_files(paths)
        finally:
            cluster.close()
    assert stored(tmp_path / "store") == pairs
    assert 1 <= len(calls) <= 3  # asked once per store, then Ingest only


def test_store_write_bwlimit_paces_each_store() -> None:
    limiter = StoreLimiter(1 << 20)  # 1 MiB/s per store
    started = time.monotonic()
    for _ in range(3):
        limiter.wait(1, 128 << 10)
        limiter.wait(2, 128 << 10)
    elapsed = time.monotonic() - started
    # 384 KiB per store at 1 MiB/s: the last chunk of each store waits ~0.25 s; stores in parallel
    assert 0.2 <= elapsed < 1.0, elapsed


def test_conflict_resolution_into_a_cluster_is_refused(tmp_path: Path) -> None:
    with TikvDouble(store_dir=str(tmp_path / "store")) as double:
        config = _config(tmp_path, "conflict", EXAMPLE, tmp_path / "store", double.pd_address)
        config.write_text(config.read_text() + '[conflict]\nstrategy = "replace"\n')
        done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    assert "resolves no conflicts yet" in done.stderr, done.stderr


def test_a_store_that_goes_down_and_comes_back_is_waited_for(tmp_path: Path) -> None:
    paths, pairs = engine_ranges(tmp_path, 6)
    tuning = ImportTuning(range_concurrency=2, backoff=0.05, max_backoff=0.2, scatter_wait=2.0)
    with TikvDouble(store_dir=str(tmp_path / "store"), scatter_polls=1) as double:
        cluster = open_cluster(double)
        double.stop_store(2)
        back = threading.Timer(1.5, double.restart_store, args=(2,))
        back.start()
        try:
            started = time.monotonic()
            ClusterImporter(cluster, tuning).import_files(paths)
            assert time.monotonic() - started >= 1.0  # it waited for the store
        finally:
            back.join()
            cluster.close()
    assert stored(tmp_path / "store") == pairs


def test_a_store_that_stays_down_ends_in_one_line(tmp_path: Path) -> None:
    paths, _ = engine_ranges(tmp_path, 7, ranges=1, per_range=5)
    tuning = ImportTuning(backoff=0.001, max_backoff=0.01, max_retries=5)
    with TikvDouble(store_dir=str(tmp_path / "store"), scatter_polls=1) as double:
        cluster = open_cluster(double)
        double.stop_store(1)
        try:
            with pytest.raises(JobError, match="made no progress in 5 retries") as failed:
                ClusterImporter(cluster, tuning).import_files(paths)
        finally:
            cluster.close()
    assert "\n" not in str(failed.value) and "store 1" in str(failed.value)
