"""Benchmark: the local backend into the embedded store, next to myloader into MariaDB and to
raw SST writing of the same pairs, on the same mydumper dump.

    .venv/bin/python bench/bench_local_backend.py [--rows 1000000] [--threads 2]
        [--paths embedded,double,importer]

1. Builds and dumps ``bench_src.sbtest1`` as ``bench_tidb_backend.py`` does (sysbench-like:
   BIGINT primary key, INT with a secondary index, CHAR(120), CHAR(60)).
2. Loads the dump with ``myloader -t THREADS`` into MariaDB (checked with ``CHECKSUM TABLE``).
3. Imports it with ``tidb-lightning --backend local`` into a fresh embedded store (the import
   checks its own checksum against the store's).
4. With ``--paths`` naming them, imports the same dump twice more: ``double``, with
   ``--pd-urls`` into ``lightning-tikv-double`` (3 stores, a process of its own: PD, split,
   scatter, ImportSST Write and MultiIngest over gRPC, the checksum by the stores), and
   ``importer``, with ``--backend importer`` through a ``tikv-importer`` process into its
   embedded store. The double's and the server's CPU seconds are read from /proc and
   reported apart from tidb-lightning's.
5. Writes the store's pairs again with ``SstFileWriter`` alone, sorted, in region-sized files:
   the floor for the sort-and-write part of the local backend.
6. Prints wall and CPU seconds, cores used (CPU ÷ wall), MB/s of source per core, peak RSS (for
   the local backend: of all its processes together, sampled every 50 ms; ``--mem-cache`` sets
   ``local-writer-mem-cache-size`` to show memory staying bounded), and the ratios local /
   myloader, local / raw SST writing, and of the other paths to the embedded one.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kv_encode import orders_row, write_dump
from bench_tidb_backend import (
    DATASETS,
    LIGHTNING_DB,
    MYLOADER_DB,
    SOURCE_DB,
    Server,
    build_source,
    dump_source,
    lightning_command,
    log,
    settle,
    table_checksum,
    timed,
    tool_command,
    verify,
)
from lightning_backend_local.sst import write_sst
from lightning_backend_local.store import EmbeddedStore

REGION_BYTES = 96 * 1024 * 1024


def _tree(pid: int, cpu: dict[int, float]) -> int:
    """Resident bytes of a process and all its descendants (from /proc); records each one's
    CPU seconds so far in ``cpu``."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            cpu[current] = _process_cpu(current)
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as kids:
                    pending.extend(int(k) for k in kids.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def sampled(command: list[str]) -> tuple[float, float, int]:
    """Run ``command``; (wall s, CPU s of it and all its descendants, peak RSS of all its
    processes together), sampled every 50 ms. The CPU is the larger of what the kernel
    reports for reaped children and the sum over every process seen: workers started through
    multiprocessing's forkserver are its children, missing from the first."""
    before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    seen: dict[int, float] = {}
    while process.poll() is None:
        peak = max(peak, _tree(process.pid, seen))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"benchmark: tidb-lightning failed: {process.stderr.read().decode()}")
    return wall, max(_children_cpu() - before, sum(seen.values())), peak


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _service(command: list[str]) -> Iterator[tuple[int, str]]:
    """A server process (the double, tikv-importer) until the block ends: its pid and the
    address its first line of output names."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().split()
        if not first:
            raise SystemExit(f"benchmark: {command[0]} did not start")
        yield process.pid, first[-1]
    finally:
        process.terminate()
        process.wait(timeout=60)


def _venv_command(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _local_config(
    path: Path,
    server: Server,
    dump: Path,
    threads: int,
    mem_cache: str,
    *,
    store: Path | None = None,
    importer: str | None = None,
) -> None:
    """The benchmark's tidb-lightning.toml: the local backend into the embedded store
    ``store`` (default: ``store`` beside ``path``), or with ``importer`` the importer backend
    through the tikv-importer at that address into ``store``."""
    store = store or path.with_name("store")
    plugin = "local" if importer is None else "importer"
    backend = f'backend = "{plugin}"' + ("" if importer is None else f'\naddr = "{importer}"')
    path.write_text(
        f"""[lightning]
level = "debug"
file = "{path.with_name("tidb-lightning.log")}"
region-concurrency = {threads}

[checkpoint]
enable = false

[tikv-importer]
{backend}
sorted-kv-dir = "{path.with_name("sorted-kv")}"
local-writer-mem-cache-size = "{mem_cache}"

[mydumper]
data-source-dir = "{dump}"

[tidb]
host = "{server.host}"
port = {server.port}
user = "{server.user}"
password = "{server.password}"

[plugin.{plugin}]
store-dir = "{store}"
""",
        encoding="utf-8",
    )


_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def stages(log_file: Path) -> dict[str, float]:
    """Seconds per stage of a local import, from its debug log: reading + encoding + writing
    runs (until the first engine closes), engine close (merge, duplicate check, ranges),
    ingest, and the post-import checks."""
    times: dict[str, float] = {"encode+write runs": 0.0, "close": 0.0, "ingest": 0.0}
    first = last = engines_start = None
    for line in log_file.read_text(encoding="utf-8").splitlines():
        found = _STAMP.match(line)
        if found is None:
            continue
        moment = datetime.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        first = moment if first is None else first
        last = moment
        if "closing and importing" in line and engines_start is None:
            engines_start = moment
        if (took := re.search(r": closed in ([\d.]+)s", line)) is not None:
            times["close"] += float(took[1])
        if (took := re.search(r": imported in ([\d.]+)s", line)) is not None:
            times["ingest"] += float(took[1])
    if first is None or last is None or engines_start is None:
        return {}
    times["encode+write runs"] = engines_start - first
    times["post-import (checksum scan)"] = max(
        0.0, last - engines_start - times["close"] - times["ingest"]
    )
    return times


def orders_dump(dump: Path, rows: int) -> int:
    """The "orders" table of bench_kv_encode (non-clustered PK, composite, unique and
    general_ci indexes) as a dump; its bytes."""
    dump.mkdir(parents=True)
    (dump / "shop-schema-create.sql").write_text("CREATE DATABASE `shop`;\n")
    (dump / "shop.orders_idx-schema.sql").write_text(ORDERS_DDL)
    return write_dump(str(dump / "shop.orders_idx.000000000.sql"), "orders_idx", rows, orders_row)


ORDERS_DDL = """CREATE TABLE `orders_idx` (
  `o_w_id` INT NOT NULL, `o_id` BIGINT NOT NULL, `o_c_id` INT NOT NULL,
  `o_entry_d` DATETIME NOT NULL, `o_amount` DECIMAL(12,2) NOT NULL,
  `o_status` VARCHAR(16) NOT NULL, `o_email` VARCHAR(64) NOT NULL,
  `o_note` VARCHAR(100) COLLATE utf8mb4_general_ci,
  PRIMARY KEY (`o_w_id`, `o_id`) /*T![clustered_index] NONCLUSTERED */,
  KEY `idx_customer` (`o_w_id`, `o_c_id`, `o_entry_d`), UNIQUE KEY `uk_email` (`o_email`),
  KEY `idx_note` (`o_note`)
) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
"""


def _raw_sst(store_dir: Path, out: Path) -> tuple[float, float, int]:
    """Write the store's pairs as region-sized SST files; (wall s, CPU s, bytes of pairs)."""
    store = EmbeddedStore.open(str(store_dir))
    try:
        pairs = list(store.scan(b""))
    finally:
        store.close()
    out.mkdir()
    started, cpu = time.perf_counter(), time.process_time()
    size = 0
    batch: list[tuple[bytes, bytes]] = []
    files = 0
    for key, value in pairs:
        batch.append((key, value))
        size += len(key) + len(value)
        if size >= REGION_BYTES * (files + 1):
            write_sst(str(out / f"{files:06d}.sst"), batch)
            batch, files = [], files + 1
    write_sst(str(out / f"{files:06d}.sst"), batch)
    return time.perf_counter() - started, time.process_time() - cpu, size


def main() -> None:
    """Build, dump, load with each tool, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="")
    parser.add_argument(
        "--mem-cache", default="128MiB", help="[tikv-importer] local-writer-mem-cache-size"
    )
    parser.add_argument(
        "--table",
        choices=["sbtest", "orders"],
        default="sbtest",
        help="sbtest: the sysbench table, with myloader as the peer; orders: the 8-column "
        "orders table with four indexes (local backend only: MariaDB has no NONCLUSTERED)",
    )
    parser.add_argument(
        "--paths",
        default="embedded",
        help="comma-separated: embedded (always), double (--pd-urls into lightning-tikv-double), "
        "importer (--backend importer through tikv-importer)",
    )
    args = parser.parse_args()
    if args.table == "orders":
        orders(args)
        return
    args.on_duplicate = "replace"
    args.data = DATASETS["sbtest1"]
    table = args.data.table
    server = Server(host=args.host, port=args.port, user=args.user, password=args.password)
    lightning = lightning_command()
    build_source(server, args.data, args.rows, rebuild=False)
    conn = server.connect()
    try:
        checksum = table_checksum(conn, SOURCE_DB, table)
    finally:
        conn.close()
    work = Path(tempfile.mkdtemp(prefix="bench_local_backend_"))
    try:
        dump = work / "dump"
        source_bytes = dump_source(server, dump, args.threads, table)
        results: dict[str, tuple[float, float, int | None]] = {}

        conn = server.connect()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{MYLOADER_DB}`")
        settle(conn)
        before = _children_cpu()
        wall, rss = timed(tool_command("myloader", server, dump, work / "unused.toml", args))
        results["myloader"] = (wall, _children_cpu() - before, rss)
        verify(server, MYLOADER_DB, table, args.rows, checksum)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{MYLOADER_DB}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{LIGHTNING_DB}`")
        conn.close()

        config = work / "tidb-lightning.toml"
        _local_config(config, server, dump, args.threads, args.mem_cache)
        wall, cpu, peak = sampled([lightning, "--config", str(config)])
        results["local"] = (wall, cpu, peak // 1024)
        log(f"local: {wall:.2f} s, all processes together at most {peak / 2**20:.0f} MiB")
        local_log = work / "tidb-lightning.log"

        paths = set(args.paths.split(","))
        apart: dict[str, str] = {}
        if "double" in paths:
            results["double"], apart["double"] = _through_double(work, server, dump, args)
        if "importer" in paths:
            results["importer"], apart["importer"] = _through_importer(work, server, dump, args)

        wall, cpu, pair_bytes = _raw_sst(work / "store", work / "raw-sst")
        results["raw sst"] = (wall, cpu, None)
        log(f"raw SST writing of {pair_bytes / 1e6:.1f} MB of pairs: {wall:.2f} s")

        print(
            f"rows={args.rows} threads={args.threads} source={source_bytes / 1e6:.1f} MB "
            f"local-writer-mem-cache-size={args.mem_cache} (local RSS: all processes summed)"
        )
        print(
            f"{'tool':<9} {'wall s':>7} {'CPU s':>7} {'cores':>6} {'MB/s/core':>10} {'RSS MiB':>8}"
        )
        for tool, (wall, cpu, rss) in results.items():
            cores = max(cpu / wall, 1e-9)
            per_core = source_bytes / 1e6 / wall / cores
            shown = f"{rss / 1024:.0f}" if rss else "-"
            print(f"{tool:<9} {wall:7.2f} {cpu:7.2f} {cores:6.2f} {per_core:10.1f} {shown:>8}")
        local = results["local"][0]
        print("local stages:")
        _print_stages(local_log, local)
        print(f"ratio local/myloader (wall): {local / results['myloader'][0]:.2f}")
        print(f"ratio local/raw SST writing (wall): {local / results['raw sst'][0]:.2f}")
        for path, note in apart.items():
            print(f"ratio {path}/local (wall): {results[path][0] / local:.2f}; {note}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _beside(
    service: list[str], lightning: Callable[[str], list[str]]
) -> tuple[float, float, int, float]:
    """tidb-lightning (the command ``lightning`` makes of the service's address) run while
    ``service`` serves: wall s, its CPU s, its peak RSS, and the service's CPU s meanwhile."""
    with _service(service) as (pid, address):
        command = lightning(address)
        before = _process_cpu(pid)
        wall, cpu, peak = sampled(command)
        return wall, cpu, peak, _process_cpu(pid) - before


def _through_double(
    work: Path, server: Server, dump: Path, args: argparse.Namespace
) -> tuple[tuple[float, float, int], str]:
    """The local backend with --pd-urls into the double (3 stores); its result and the
    double's CPU."""
    store = work / "double-store"
    config = work / "double" / "tidb-lightning.toml"
    config.parent.mkdir()
    _local_config(config, server, dump, args.threads, args.mem_cache, store=store)
    wall, cpu, peak, served = _beside(
        [_venv_command("lightning-tikv-double"), "--addr", "127.0.0.1:0",
         "--store-dir", str(store), "--stores", "3"],
        lambda pd: [lightning_command(), "--config", str(config), "--pd-urls", pd],
    )  # fmt: skip
    log(f"through the double: {wall:.2f} s, the double's CPU {served:.2f} s")
    return (wall, cpu, peak // 1024), f"the double's own CPU {served:.2f} s (not counted above)"


def _through_importer(
    work: Path, server: Server, dump: Path, args: argparse.Namespace
) -> tuple[tuple[float, float, int], str]:
    """The importer backend through a tikv-importer process; its result and the server's
    CPU."""
    root = work / "importer"
    root.mkdir()
    toml = root / "tikv-importer.toml"
    toml.write_text(
        f'[import]\nimport-dir = "{root / "import"}"\nstore-dir = "{root / "store"}"\n'
        f"num-import-jobs = {args.threads}\n"
    )
    config = root / "tidb-lightning.toml"

    def lightning(address: str) -> list[str]:
        _local_config(
            config, server, dump, args.threads, args.mem_cache,
            store=root / "store", importer=address,
        )  # fmt: skip
        return [lightning_command(), "--config", str(config)]

    wall, cpu, peak, served = _beside(
        [_venv_command("tikv-importer"), "-C", str(toml), "-A", "127.0.0.1:0",
         "--log-file", str(root / "tikv-importer.log")],
        lightning,
    )  # fmt: skip
    log(f"through tikv-importer: {wall:.2f} s, the server's CPU {served:.2f} s")
    total = (cpu + served) / wall
    return (wall, cpu, peak // 1024), (
        f"tikv-importer's own CPU {served:.2f} s (not counted above; both together use "
        f"{total:.2f} cores)"
    )


def orders(args: argparse.Namespace) -> None:
    """The local backend alone on the "orders" table, with its stages."""
    server = Server(host=args.host, port=args.port, user=args.user, password=args.password)
    work = Path(tempfile.mkdtemp(prefix="bench_local_backend_"))
    try:
        dump = work / "dump"
        source_bytes = orders_dump(dump, args.rows)
        config = work / "tidb-lightning.toml"
        _local_config(config, server, dump, args.threads, args.mem_cache)
        wall, cpu, peak = sampled([lightning_command(), "--config", str(config)])
        cores = max(cpu / wall, 1e-9)
        print(f"orders_idx rows={args.rows} source={source_bytes / 1e6:.1f} MB")
        print(
            f"local: {wall:.2f} s wall, {cpu:.2f} s CPU, {cores:.2f} cores, "
            f"{source_bytes / 1e6 / wall / cores:.1f} MB/s of source per core, "
            f"all processes at most {peak / 2**20:.0f} MiB"
        )
        _print_stages(work / "tidb-lightning.log", wall)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _print_stages(log_file: Path, wall: float) -> None:
    for stage, seconds in stages(log_file).items():
        print(f"  {stage:<28} {seconds:6.2f} s  {seconds / wall * 100:4.0f} %")


if __name__ == "__main__":
    main()
