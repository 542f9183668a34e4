"""Benchmark: tidb-lightning's tidb backend against myloader, on the same mydumper dump.

    .venv/bin/python bench/bench_tidb_backend.py [--rows 1000000] [--threads 2] [--repeat 3]
        [--table sbtest1|orders] [--tools myloader,lightning,loaddata,deferred]

1. Builds ``bench_src.<table>`` in the MySQL-protocol server with ``INSERT ... SELECT`` from
   MariaDB's SEQUENCE engine, unless it already holds exactly ``--rows`` rows: ``sbtest1``
   (sysbench-like: id BIGINT primary key, k INT with a secondary index, c CHAR(120),
   pad CHAR(60)) or ``orders`` (an order table with three secondary indexes).
2. Dumps it with mydumper ``-F 16`` (16 MB chunk files) into a temporary directory, and for
   ``loaddata`` also writes its rows as one tab-separated file.
3. Alternately, ``--repeat`` times each, loads the rows with
   (a) ``myloader -t THREADS -B bench_myloader -o``,
   (b) ``tidb-lightning --backend tidb --region-concurrency THREADS --enable-checkpoint=false``
       with a ``[[routes]]`` rule sending ``bench_src`` to ``bench_lightning``, and
   (c) ``loaddata``: the table created with every index, then one ``LOAD DATA LOCAL INFILE``
       of the tab-separated file (the server's fastest path for the rows), and
   (d) ``deferred``: the table created with its primary key only, THREADS concurrent
       ``LOAD DATA LOCAL INFILE`` of the rows cut in THREADS files, then one ``ALTER TABLE``
       adding the secondary indexes: what the server needs at least for the deferred-index
       approach, with nothing to parse on the client (the floor for tidb-lightning),
   each into a freshly dropped target database, and checks the target has every row and the
   same ``CHECKSUM TABLE`` as the source.
4. Prints wall time, throughput, peak RSS and the server's CPU seconds (user + system of the
   mariadbd / mysqld process, from /proc; other clients of the server count too) per run, the
   medians, and the ratios to myloader of the median wall times and server CPU seconds.

This is a benchmark, not a test: it exits non-zero only when a tool fails or a target is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs
import pymysql

SOURCE_DB = "bench_src"
MYLOADER_DB = "bench_myloader"
LIGHTNING_DB = "bench_lightning"
LOADDATA_DB = "bench_loaddata"
DEFERRED_DB = "bench_deferred"
TOOLS = ("myloader", "lightning", "loaddata", "deferred")
TARGETS = {
    "myloader": MYLOADER_DB,
    "lightning": LIGHTNING_DB,
    "loaddata": LOADDATA_DB,
    "deferred": DEFERRED_DB,
}
INSERT_BATCH = 100_000

SBTEST_DDL = """CREATE TABLE `{db}`.`sbtest1` (
  `id` BIGINT NOT NULL,
  `k` INT NOT NULL DEFAULT 0,
  `c` CHAR(120) NOT NULL DEFAULT '',
  `pad` CHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `k_1` (`k`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

# Deterministic filler of the full column widths (sysbench fills c and pad completely):
# c = 64 + 1 + 40 + 1 + 14 = 120 characters, pad = 32 + 1 + 27 = 60 characters.
FILL_SELECT = """SELECT seq,
       CRC32(seq) % {rows} + 1,
       CONCAT_WS('-', SHA2(seq, 256), SHA1(seq), LEFT(MD5(seq), 14)),
       CONCAT_WS('-', MD5(-seq), LEFT(SHA1(-seq), 27))
FROM seq_{first}_to_{last}"""

ORDERS_DDL = """CREATE TABLE `{db}`.`orders` (
  `id` BIGINT NOT NULL,
  `customer_id` INT NOT NULL,
  `status` TINYINT NOT NULL,
  `created_at` DATETIME NOT NULL,
  `amount` DECIMAL(12,2) NOT NULL,
  `note` VARCHAR(60) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `idx_customer` (`customer_id`),
  KEY `idx_created` (`created_at`),
  KEY `idx_status_created` (`status`, `created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""

ORDERS_SELECT = """SELECT seq,
       CRC32(seq) % 50000 + 1,
       seq % 7,
       '2024-01-01' + INTERVAL (CRC32(-seq) % 31536000) SECOND,
       (CRC32(seq * 3) % 10000000) / 100,
       LEFT(SHA1(seq), 20 + seq % 21)
FROM seq_{first}_to_{last}"""


@attrs.frozen(kw_only=True)
class Dataset:
    """A benchmark table: its name, DDL (``{db}`` for the database) and filler."""

    table: str
    ddl: str
    fill_select: str


DATASETS = {
    "sbtest1": Dataset(table="sbtest1", ddl=SBTEST_DDL, fill_select=FILL_SELECT),
    "orders": Dataset(table="orders", ddl=ORDERS_DDL, fill_select=ORDERS_SELECT),
}


@attrs.frozen(kw_only=True)
class Server:
    """Where the MySQL-protocol server is."""

    host: str
    port: int
    user: str
    password: str

    def connect(self, database: str | None = None) -> Any:
        """An autocommit pymysql connection."""
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )


@attrs.frozen(kw_only=True)
class Run:
    """One timed load."""

    tool: str
    seconds: float
    peak_rss_kib: int | None
    server_cpu: float | None
    """CPU seconds the server process used during the load."""


def log(message: str) -> None:
    """Progress to stderr, so stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)


def scalar(conn: Any, sql: str) -> Any:
    """The first column of the first row of ``sql``."""
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return None if row is None else row[0]


def server_cpu_seconds() -> float | None:
    """User + system CPU seconds of the local mariadbd / mysqld process, or None."""
    for name in ("mariadbd", "mysqld"):
        found = subprocess.run(["pidof", name], capture_output=True, text=True, check=False)
        if found.returncode == 0 and found.stdout.split():
            pid = found.stdout.split()[0]
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return None


def table_checksum(conn: Any, database: str, table: str) -> int:
    """``CHECKSUM TABLE`` of the benchmark table in ``database``."""
    with conn.cursor() as cur:
        cur.execute(f"CHECKSUM TABLE `{database}`.`{table}`")
        row = cur.fetchone()
    if row is None or row[1] is None:
        raise SystemExit(f"benchmark: table `{database}`.`{table}` is missing")
    return int(row[1])


def build_source(server: Server, data: Dataset, rows: int, rebuild: bool) -> None:
    """Create and fill ``bench_src.<table>`` unless it already holds exactly ``rows`` rows
    (other tables of bench_src are dropped: the dump holds only this one)."""
    table = data.table
    conn = server.connect()
    try:
        tables = {
            r[0]
            for r in _rows(
                conn,
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                f"WHERE TABLE_SCHEMA = '{SOURCE_DB}'",
            )
        }
        if not rebuild and tables == {table}:
            existing = scalar(conn, f"SELECT COUNT(*) FROM `{SOURCE_DB}`.`{table}`")
            if existing == rows:
                log(f"reusing {SOURCE_DB}.{table} ({rows} rows); --rebuild to recreate it")
                return
        if not scalar(conn, "SELECT COUNT(*) FROM information_schema.ENGINES "
                      "WHERE ENGINE = 'SEQUENCE' AND SUPPORT IN ('YES', 'DEFAULT')"):  # fmt: skip
            raise SystemExit("benchmark: the server has no SEQUENCE engine (MariaDB needed)")
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{SOURCE_DB}`")
            cur.execute(f"CREATE DATABASE `{SOURCE_DB}`")
            cur.execute(f"USE `{SOURCE_DB}`")
            cur.execute(data.ddl.format(db=SOURCE_DB))
            for first in range(1, rows + 1, INSERT_BATCH):
                last = min(first + INSERT_BATCH - 1, rows)
                select = data.fill_select.format(rows=rows, first=first, last=last)
                cur.execute(f"INSERT INTO `{table}` {select}")
                log(f"  filled {last}/{rows} rows")
        log(f"built {SOURCE_DB}.{table} in {time.perf_counter() - started:.1f} s")
    finally:
        conn.close()


def _rows(conn: Any, sql: str) -> list[Any]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def write_tsv(server: Server, table: str, path: Path, parts: int, rows: int) -> None:
    """The source rows in primary-key order as LOAD DATA's default format (tab-separated,
    backslash escapes): all in ``path`` and, cut in ``parts`` runs of rows, in
    ``path.with_suffix(".N.tsv")``."""
    escapes = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\0": "\\0"})
    conn = pymysql.connect(
        host=server.host, port=server.port, user=server.user, password=server.password,
        charset="utf8mb4", cursorclass=pymysql.cursors.SSCursor,
    )  # fmt: skip
    per_part = -(-rows // parts)
    try:
        with contextlib.ExitStack() as files, conn.cursor() as cur:
            whole = files.enter_context(path.open("w", encoding="utf-8"))
            cut = [
                files.enter_context(part.open("w", encoding="utf-8"))
                for part in tsv_parts(path, parts)
            ]
            cur.execute(f"SELECT * FROM `{SOURCE_DB}`.`{table}` ORDER BY 1")
            for index, row in enumerate(cur):
                fields = ("\\N" if v is None else str(v).translate(escapes) for v in row)
                line = "\t".join(fields) + "\n"
                whole.write(line)
                cut[index // per_part].write(line)
    finally:
        conn.close()


def tsv_parts(path: Path, parts: int) -> list[Path]:
    """The files ``write_tsv`` cuts the rows in."""
    return [path.with_suffix(f".{n}.tsv") for n in range(parts)]


def dump_source(server: Server, outdir: Path, threads: int, table: str) -> int:
    """Dump ``bench_src`` with mydumper -F 16 into ``outdir``; return the dump's size in bytes."""
    mydumper = shutil.which("mydumper")
    if mydumper is None:
        raise SystemExit("benchmark: mydumper is not installed (apt-get install mydumper)")
    command = [mydumper, "-B", SOURCE_DB, "-o", str(outdir), "-F", "16", "-t", str(threads),
               "-h", server.host, "-P", str(server.port), "-u", server.user]  # fmt: skip
    if server.password:
        command += ["-p", server.password]
    outdir.parent.mkdir(parents=True, exist_ok=True)  # mydumper creates only the last level
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or "CRITICAL" in done.stderr:
        raise SystemExit(f"benchmark: mydumper failed (exit {done.returncode}): {done.stderr}")
    size = sum(p.stat().st_size for p in outdir.iterdir())
    files = len(list(outdir.glob(f"{SOURCE_DB}.{table}.*sql*")))
    log(
        f"dumped {size / 1e6:.1f} MB in {files} data files in {time.perf_counter() - started:.1f} s"
    )
    return size


def lightning_command() -> str:
    """The tidb-lightning executable of this virtualenv, or the one on PATH."""
    beside = Path(sys.executable).with_name("tidb-lightning")
    found = str(beside) if beside.exists() else shutil.which("tidb-lightning")
    if found is None:
        raise SystemExit("benchmark: no tidb-lightning command (pip install -e . in the venv)")
    return found


def write_lightning_config(
    path: Path, server: Server, dump: Path, args: argparse.Namespace
) -> None:
    """A tidb-lightning.toml that imports ``dump`` with ``bench_src`` routed to bench_lightning."""
    path.write_text(
        f"""[lightning]
level = "info"
file = "{path.with_name("tidb-lightning.log")}"
region-concurrency = {args.threads}

[checkpoint]
enable = false

[tikv-importer]
backend = "tidb"
on-duplicate = "{args.on_duplicate}"

[mydumper]
data-source-dir = "{dump}"

[tidb]
host = "{server.host}"
port = {server.port}
user = "{server.user}"
password = "{server.password}"

[[routes]]
schema-pattern = "{SOURCE_DB}"
target-schema = "{LIGHTNING_DB}"
""",
        encoding="utf-8",
    )


def tool_command(
    tool: str, server: Server, dump: Path, config: Path, args: argparse.Namespace
) -> list[str]:
    """The command line that loads ``dump`` with ``tool``."""
    if tool == "myloader":
        myloader = shutil.which("myloader")
        if myloader is None:
            raise SystemExit("benchmark: myloader is not installed (apt-get install mydumper)")
        command = [myloader, "-d", str(dump), "-t", str(args.threads), "-B", MYLOADER_DB,
                   "-h", server.host, "-P", str(server.port), "-u", server.user, "-o"]  # fmt: skip
        return command + (["-p", server.password] if server.password else [])
    return [lightning_command(), "--config", str(config), "--backend", "tidb",
            "-d", str(dump), "--region-concurrency", str(args.threads),
            "--enable-checkpoint=false"]  # fmt: skip


def timed(command: Sequence[str]) -> tuple[float, int | None]:
    """Run ``command``; return its wall time and peak RSS in KiB (via /usr/bin/time -v).

    The RSS is the largest single process; tools that fork workers use more in total.
    """
    gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    wrapped = [gnu_time, "-v", *command] if gnu_time else list(command)
    started = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
        raise SystemExit(f"benchmark: {command[0]} failed (exit {done.returncode}):\n{tail}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return seconds, int(match[1]) if match else None


def load_data(server: Server, data: Dataset, tsv: Path) -> None:
    """Create the table with every index, then ``LOAD DATA LOCAL INFILE`` the rows."""
    conn = pymysql.connect(
        host=server.host, port=server.port, user=server.user, password=server.password,
        charset="utf8mb4", autocommit=True, local_infile=True,
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{LOADDATA_DB}`")
            cur.execute(data.ddl.format(db=LOADDATA_DB))
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE `{LOADDATA_DB}`.`{data.table}` "
                "CHARACTER SET utf8mb4",
                (str(tsv),),
            )
    finally:
        conn.close()


def load_deferred(server: Server, data: Dataset, parts: list[Path]) -> None:
    """Create the table with its primary key only, ``LOAD DATA LOCAL INFILE`` each part on a
    connection of its own at once, then add the secondary indexes in one ``ALTER TABLE``."""
    from lightning_backend_tidb.indexes import split_secondary_indexes

    create, indexes = split_secondary_indexes(data.ddl.format(db=DEFERRED_DB))

    def connect() -> Any:
        return pymysql.connect(
            host=server.host, port=server.port, user=server.user, password=server.password,
            charset="utf8mb4", autocommit=True, local_infile=True,
        )  # fmt: skip

    def load(part: Path) -> None:
        conn = connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE `{DEFERRED_DB}`.`{data.table}` "
                    "CHARACTER SET utf8mb4",
                    (str(part),),
                )
        finally:
            conn.close()

    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{DEFERRED_DB}`")
            cur.execute(create)
            with ThreadPoolExecutor(len(parts)) as pool:
                list(pool.map(load, parts))
            if indexes:
                adds = ", ".join(f"ADD {index}" for index in indexes)
                cur.execute(f"ALTER TABLE `{DEFERRED_DB}`.`{data.table}` {adds}")
    finally:
        conn.close()


def verify(server: Server, database: str, table: str, rows: int, source_checksum: int) -> None:
    """The target holds ``rows`` rows with the source's checksum, or the benchmark stops."""
    conn = server.connect()
    try:
        count = scalar(conn, f"SELECT COUNT(*) FROM `{database}`.`{table}`")
        checksum = table_checksum(conn, database, table)
    finally:
        conn.close()
    if count != rows or checksum != source_checksum:
        raise SystemExit(
            f"benchmark: {database}.{table} has {count} rows, checksum {checksum}; "
            f"expected {rows} rows, checksum {source_checksum}"
        )


def settle(conn: Any, timeout: float = 60.0) -> None:
    """Wait until InnoDB has flushed the previous load's dirty pages (or ``timeout`` passed).

    Otherwise the background flushing of one load slows down the next one, and the order of
    the tools, rather than the tools, decides the times.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with conn.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
            row = cur.fetchone()
        if row is None or int(row[1]) <= 100:
            return
        time.sleep(0.5)


def load_once(
    tool: str, server: Server, dump: Path, config: Path, args: argparse.Namespace, checksum: int
) -> Run:
    """Drop the tool's target database, load the rows with the tool, verify, and time it."""
    database = TARGETS[tool]
    conn = server.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        settle(conn)
    finally:
        conn.close()
    cpu_before = server_cpu_seconds()
    if tool in ("loaddata", "deferred"):
        started = time.perf_counter()
        rows = dump.with_name("rows.tsv")
        if tool == "loaddata":
            load_data(server, args.data, rows)
        else:
            load_deferred(server, args.data, tsv_parts(rows, args.threads))
        seconds, rss = time.perf_counter() - started, None
    else:
        seconds, rss = timed(tool_command(tool, server, dump, config, args))
    cpu_after = server_cpu_seconds()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    verify(server, database, args.data.table, args.rows, checksum)
    return Run(tool=tool, seconds=seconds, peak_rss_kib=rss, server_cpu=cpu)


def report(runs: list[Run], dump_bytes: int, args: argparse.Namespace) -> None:
    """Print per-run numbers, medians per tool and the lightning/myloader ratio."""
    print(f"table={args.data.table} rows={args.rows} threads={args.threads} "
          f"dump={dump_bytes / 1e6:.1f} MB repeat={args.repeat} "
          f"on-duplicate={args.on_duplicate}")  # fmt: skip
    print(f"{'tool':<10} {'wall s':>8} {'MB/s':>7} {'rows/s':>9} {'peak RSS MiB':>13} "
          f"{'server CPU s':>13}")  # fmt: skip
    for run in runs:
        rss = f"{run.peak_rss_kib / 1024:.0f}" if run.peak_rss_kib else "-"
        cpu = f"{run.server_cpu:.2f}" if run.server_cpu is not None else "?"
        print(f"{run.tool:<10} {run.seconds:8.2f} {dump_bytes / 1e6 / run.seconds:7.1f} "
              f"{args.rows / run.seconds:9.0f} {rss:>13} {cpu:>13}")  # fmt: skip
    medians: dict[str, float] = {}
    cpus: dict[str, float] = {}
    for tool in args.tools:
        times = [run.seconds for run in runs if run.tool == tool]
        rss_values = [run.peak_rss_kib for run in runs if run.tool == tool and run.peak_rss_kib]
        cpu_values = [r.server_cpu for r in runs if r.tool == tool and r.server_cpu is not None]
        medians[tool] = statistics.median(times)
        peak = f", peak RSS {max(rss_values) / 1024:.0f} MiB" if rss_values else ""
        if cpu_values:
            cpus[tool] = statistics.median(cpu_values)
            peak += f", server CPU {cpus[tool]:.2f} s"
        print(f"median {tool}: {medians[tool]:.2f} s{peak}")
    for tool in ("lightning", "loaddata", "deferred"):
        if tool in medians and "myloader" in medians:
            ratio = medians[tool] / medians["myloader"]
            line = f"ratio {tool}/myloader: wall {ratio:.2f}"
            if tool in cpus and cpus.get("myloader"):
                line += f", server CPU {cpus[tool] / cpus['myloader']:.2f}"
            print(line + " (medians)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table")
    parser.add_argument("--threads", type=int, default=2, help="myloader -t / region-concurrency")
    parser.add_argument("--repeat", type=int, default=3, help="timed loads per tool")
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma-separated subset of myloader,lightning,loaddata,deferred (default all)",
    )
    parser.add_argument("--table", default="sbtest1", choices=sorted(DATASETS))
    parser.add_argument("--on-duplicate", default="replace", choices=["replace", "ignore", "error"])
    parser.add_argument("--rebuild", action="store_true", help="recreate bench_src even if present")
    parser.add_argument("--workdir", type=Path, help="keep the dump here instead of a temp dir")
    parser.add_argument("--host", default=os.environ.get("LIGHTNING_TEST_MYSQL_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LIGHTNING_TEST_MYSQL_PORT", "3306"))
    )
    parser.add_argument("--user", default=os.environ.get("LIGHTNING_TEST_MYSQL_USER", "root"))
    parser.add_argument("--password", default=os.environ.get("LIGHTNING_TEST_MYSQL_PASSWORD", ""))
    args = parser.parse_args(argv)
    args.tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = set(args.tools) - set(TOOLS)
    if unknown or not args.tools:
        parser.error(f"--tools takes {', '.join(TOOLS)}, not {sorted(unknown)}")
    args.data = DATASETS[args.table]
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Build, dump, load alternately with each tool, verify, report."""
    args = parse_args(argv)
    server = Server(host=args.host, port=args.port, user=args.user, password=args.password)
    if "lightning" in args.tools:
        lightning_command()  # fail before the slow steps if it is missing
    table = args.data.table
    build_source(server, args.data, args.rows, args.rebuild)
    conn = server.connect()
    try:
        source_checksum = table_checksum(conn, SOURCE_DB, table)
    finally:
        conn.close()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_tidb_backend_"))
    dump = workdir / "dump"
    try:
        if dump.exists():
            shutil.rmtree(dump)
        dump_bytes = dump_source(server, dump, args.threads, table)
        if {"loaddata", "deferred"} & set(args.tools):
            write_tsv(server, table, dump.with_name("rows.tsv"), args.threads, args.rows)
        config = workdir / "tidb-lightning.toml"
        write_lightning_config(config, server, dump, args)
        runs: list[Run] = []
        for round_number in range(args.repeat):
            # Alternate which tool goes first so caches and InnoDB's background work after a
            # load do not favour one tool.
            order = args.tools if round_number % 2 == 0 else list(reversed(args.tools))
            for tool in order:
                run = load_once(tool, server, dump, config, args, source_checksum)
                log(f"round {round_number + 1}: {tool} {run.seconds:.2f} s")
                runs.append(run)
        report(runs, dump_bytes, args)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
