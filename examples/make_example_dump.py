"""Generate ``examples/dump/``: a small, deterministic mydumper-layout data source.

Run ``python examples/make_example_dump.py`` from the repository root; the output is committed,
so rerunning it must produce identical bytes (seeded random values, fixed timestamps, and the
one compressed file made by ``gzip -n``, which leaves the name and mtime out of the header).

What the dump holds and the row counts each target table must end up with are described in
``examples/README.md``; :data:`EXPECTED_ROWS` is the same table in code form.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

SEED = 20240617
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "dump"

CUSTOMERS = 120
CUSTOMERS_PER_FILE = 60
CUSTOMERS_PER_STATEMENT = 30
ORDERS = 300
ORDERS_PER_FILE = 150
NOTES = 40
VISITS_DISTINCT = 140
VISITS_DUPLICATED = 10
ARCHIVE_01 = 80
ARCHIVE_02 = 70
BIG_CUSTOMER_BALANCE = Decimal("5000.00")

EXPECTED_ROWS: dict[str, int] = {
    "shop.customers": CUSTOMERS,
    "shop.orders": ORDERS,
    "shop.notes": NOTES,
    "shop.visits": VISITS_DISTINCT + VISITS_DUPLICATED,
    "shop.orders_archive": ARCHIVE_01 + ARCHIVE_02,
}
"""Rows per target table after importing the dump with ``examples/tidb-lightning.toml``."""

HEADER = "/*!40101 SET NAMES binary*/;\n/*!40014 SET FOREIGN_KEY_CHECKS=0*/;\n"
DATA_HEADER = HEADER + "/*!40103 SET TIME_ZONE='+00:00' */;\n"
SCHEMA_HEADER = HEADER + "\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"

FIRST_NAMES = ["Ana", "Björn", "Chloé", "Dmitri", "Eun-ji", "Fatima", "Gareth", "Hiroshi",
               "Inés", "Jürgen", "Kwame", "Łukasz", "Mei", "Nadia", "O'Brien", "Priya",
               "Quentin", "Renée", "Søren", "Tomás", "王", "Zoë"]  # fmt: skip
LAST_NAMES = ["Smith", "Müller", "García", "Nguyễn", "O'Neil", "Kowalski", "Tanaka", "Rossi",
              "Ivanov", "Dubois", "李", "Andersson", "D\"Angelo", "Back\\slash"]  # fmt: skip
COUNTRIES = ["DE", "FR", "US", "JP", "CN", "BR", "IN", "SE", "PL", "VN"]
STATUSES = ["new", "paid", "shipped", "cancelled"]
PAGES = ["/", "/cart", "/checkout", "/search?q=caf%C3%A9", "/p/42", "/help", "/account"]
REGIONS = ["north", "south", "east", "west"]
NOTE_BODIES = [
    'It\'s a "quoted" remark',
    "Windows path C:\\Users\\shop\\file.txt and a trailing backslash \\",
    "first line\nsecond line\r\nthird line after CRLF",
    "tab\tseparated\tvalues",
    "UTF-8: Grüße, 中文, русский, emoji 🚀🎉",
    "looks like SQL: '); DROP TABLE notes; --",
    "a tuple separator inside a string: ),( and a statement end: ;\nINSERT INTO x VALUES (1);",
    "NUL byte here ->\0<- and ctrl-Z ->\x1a<-",
    "",
    "comma, separated, words; and \"double\" and 'single' quotes",
    "/* not a comment */ -- nor this # nor this",
    "unicode quotes: ‘single’ “double” and a zero-width joiner 👩‍💻",
]


def sql_literal(value: object) -> str:
    """Render a value the way mydumper 0.10 writes it (``mysql_real_escape_string`` in "...")."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f'"{value:%Y-%m-%d %H:%M:%S}"'
    text = str(value)
    escaped = (
        text.replace("\\", "\\\\")
        .replace("\0", "\\0")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("'", "\\'")
        .replace('"', '\\"')
        .replace("\x1a", "\\Z")
    )
    return f'"{escaped}"'


def insert_statements(table: str, rows: Sequence[Sequence[object]], per_statement: int) -> str:
    """Multi-row ``INSERT INTO `t` VALUES`` statements, one tuple per line, like mydumper."""
    parts = []
    for start in range(0, len(rows), per_statement):
        batch = rows[start : start + per_statement]
        tuples = ",\n".join("(" + ",".join(sql_literal(v) for v in row) + ")" for row in batch)
        parts.append(f"INSERT INTO `{table}` VALUES\n{tuples};\n")
    return "".join(parts)


def csv_field(value: object) -> str:
    r"""Render a CSV field for ``[mydumper.csv]`` separator ``,``, delimiter ``"``, null ``\N``.

    Strings are always quoted, embedded quotes doubled and backslashes doubled (the config has
    ``backslash-escape = true``); numbers and NULL are bare.
    """
    if value is None:
        return "\\N"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f'"{value:%Y-%m-%d %H:%M:%S}"'
    text = str(value).replace("\\", "\\\\").replace('"', '""')
    return f'"{text}"'


def timestamp(rng: random.Random, year: int = 2024) -> dt.datetime:
    """A whole-second datetime within ``year``."""
    start = dt.datetime(year, 1, 1)
    return start + dt.timedelta(seconds=rng.randrange(365 * 24 * 3600))


def money(rng: random.Random, high: int) -> Decimal:
    """A two-decimal amount in [0, high)."""
    return Decimal(rng.randrange(high * 100)) / 100


def customers(rng: random.Random) -> list[tuple[object, ...]]:
    """``shop.customers`` rows: id, email (unique), name, country, vip, created_at, balance."""
    rows: list[tuple[object, ...]] = []
    for cid in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"customer{cid:04d}@example.com"
        country = None if cid % 17 == 0 else rng.choice(COUNTRIES)
        rows.append(
            (cid, email, f"{first} {last}", country, cid % 5 == 0, timestamp(rng, 2023),
             money(rng, 10000))
        )  # fmt: skip
    return rows


def orders(rng: random.Random) -> list[tuple[object, ...]]:
    """``shop.orders`` rows: id, customer_id, amount, status, ordered_at, shipped_at, details."""
    rows: list[tuple[object, ...]] = []
    for oid in range(1, ORDERS + 1):
        status = rng.choice(STATUSES)
        ordered_at = timestamp(rng)
        shipped_at = ordered_at + dt.timedelta(hours=rng.randrange(1, 96))
        details = {
            "items": rng.randrange(1, 9),
            "gift": rng.random() < 0.2,
            "note": rng.choice(["", "leave at door", 'say "hi"', "fragile, handle with care"]),
            "tags": rng.sample(["eu", "promo", "b2b", "ünïcode"], k=rng.randrange(0, 3)),
        }
        rows.append(
            (1000 + oid, rng.randrange(1, CUSTOMERS + 1), money(rng, 2000), status, ordered_at,
             shipped_at if status == "shipped" else None,
             json.dumps(details, sort_keys=True, ensure_ascii=False))
        )  # fmt: skip
    return rows


def notes(rng: random.Random) -> list[tuple[object, ...]]:
    """``shop.notes`` rows: id, customer_id, title, body (hard-to-escape TEXT), created_at."""
    rows: list[tuple[object, ...]] = []
    for nid in range(1, NOTES + 1):
        base = NOTE_BODIES[nid % len(NOTE_BODIES)]
        body = None if nid % 13 == 0 else f"{base} #{nid}" if base else ""
        title = f"note {nid}: " + rng.choice(["“hello”", "it's", "a\\b", "ok"])
        rows.append((nid, rng.randrange(1, CUSTOMERS + 1), title, body, timestamp(rng)))
    return rows


def visits(rng: random.Random) -> list[tuple[object, ...]]:
    """``shop.visits`` rows (no keys at all), with some exact duplicates that must all survive."""
    rows: list[tuple[object, ...]] = [
        (rng.randrange(1, CUSTOMERS + 1), rng.choice(PAGES), timestamp(rng))
        for _ in range(VISITS_DISTINCT)
    ]
    duplicates = [rows[i] for i in rng.sample(range(VISITS_DISTINCT), VISITS_DUPLICATED)]
    rows.extend(duplicates)
    return rows


def archive(rng: random.Random, first_id: int, count: int) -> list[tuple[object, ...]]:
    """``orders_2023`` shard rows: id, customer_id, amount, ordered_at, region."""
    return [
        (first_id + n, rng.randrange(1, CUSTOMERS + 1), money(rng, 2000), timestamp(rng, 2023),
         rng.choice(REGIONS))
        for n in range(count)
    ]  # fmt: skip


CUSTOMERS_DDL = f"""CREATE TABLE `customers` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `email` varchar(120) NOT NULL,
  `name` varchar(100) NOT NULL,
  `country` char(2) DEFAULT NULL,
  `vip` tinyint(1) NOT NULL DEFAULT 0,
  `created_at` datetime NOT NULL,
  `balance` decimal(12,2) NOT NULL DEFAULT 0.00,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_email` (`email`)
) {TABLE_OPTIONS};
"""

ORDERS_DDL = f"""CREATE TABLE `orders` (
  `id` bigint(20) NOT NULL,
  `customer_id` int(11) NOT NULL,
  `amount` decimal(10,2) NOT NULL,
  `status` enum('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
  `ordered_at` datetime NOT NULL,
  `shipped_at` datetime DEFAULT NULL,
  `details` json DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_customer` (`customer_id`),
  KEY `idx_status_ordered` (`status`,`ordered_at`)
) {TABLE_OPTIONS};
"""

NOTES_DDL = f"""CREATE TABLE `notes` (
  `id` int(11) NOT NULL,
  `customer_id` int(11) NOT NULL,
  `title` varchar(200) NOT NULL,
  `body` text DEFAULT NULL,
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`id`)
) {TABLE_OPTIONS};
"""

VISITS_DDL = f"""CREATE TABLE `visits` (
  `customer_id` int(11) NOT NULL,
  `page` varchar(100) NOT NULL,
  `visited_at` datetime NOT NULL
) {TABLE_OPTIONS};
"""

ARCHIVE_DDL = f"""CREATE TABLE `orders_2023` (
  `id` bigint(20) NOT NULL,
  `customer_id` int(11) NOT NULL,
  `amount` decimal(10,2) NOT NULL,
  `ordered_at` datetime NOT NULL,
  `region` varchar(20) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_ordered_at` (`ordered_at`)
) {TABLE_OPTIONS};
"""

VIEW_PLACEHOLDER = """/*!40101 SET NAMES binary*/;
CREATE TABLE `big_customers`(
`id` int,
`name` int,
`balance` int
)ENGINE=MyISAM;
"""

VIEW_DDL = f"""/*!40101 SET NAMES binary*/;
DROP TABLE IF EXISTS `big_customers`;
DROP VIEW IF EXISTS `big_customers`;
SET @PREV_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT;
SET @PREV_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS;
SET @PREV_COLLATION_CONNECTION=@@COLLATION_CONNECTION;
SET character_set_client = utf8mb4;
SET character_set_results = utf8mb4;
SET collation_connection = utf8mb4_general_ci;
CREATE ALGORITHM=UNDEFINED SQL SECURITY INVOKER VIEW `big_customers` AS select `customers`.`id` AS `id`,`customers`.`name` AS `name`,`customers`.`balance` AS `balance` from `customers` where `customers`.`balance` > {BIG_CUSTOMER_BALANCE};
SET character_set_client = @PREV_CHARACTER_SET_CLIENT;
SET character_set_results = @PREV_CHARACTER_SET_RESULTS;
SET collation_connection = @PREV_COLLATION_CONNECTION;
"""  # noqa: E501

METADATA = """Started dump at: 2024-06-17 10:00:00
SHOW MASTER STATUS:
\tLog: mysql-bin.000003
\tPos: 1544
\tGTID:

Finished dump at: 2024-06-17 10:00:01
"""


def schema_create(db: str) -> str:
    """The ``{db}-schema-create.sql`` text mydumper writes."""
    return (
        f"CREATE DATABASE `{db}` /*!40100 DEFAULT CHARACTER SET utf8mb4 "
        "COLLATE utf8mb4_general_ci */;\n"
    )


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV file with a header line, ``\\n`` line ends."""
    lines = [",".join(header)]
    lines.extend(",".join(csv_field(v) for v in row) for row in rows)
    return "\n".join(lines) + "\n"


def gzip_file(path: Path) -> None:
    """Compress ``path`` to ``path.gz`` reproducibly (no name, no mtime) and remove ``path``."""
    gzip = shutil.which("gzip")
    if gzip is None:
        raise SystemExit("gzip is needed to write the .sql.gz example file; install gzip")
    with path.with_name(path.name + ".gz").open("wb") as out:
        subprocess.run([gzip, "-n", "-9", "-c", str(path)], stdout=out, check=True)
    path.unlink()


def write_dump(out: Path) -> list[str]:
    """Write every file of the example dump into ``out`` (emptied first); return the names."""
    rng = random.Random(SEED)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    def put(name: str, text: str) -> None:
        (out / name).write_bytes(text.encode("utf-8"))

    for db in ("shop", "shop_archive_01", "shop_archive_02"):
        put(f"{db}-schema-create.sql", schema_create(db))
    put("metadata", METADATA)

    put("shop.customers-schema.sql", SCHEMA_HEADER + CUSTOMERS_DDL)
    customer_rows = customers(rng)
    for n, start in enumerate(range(0, CUSTOMERS, CUSTOMERS_PER_FILE)):
        chunk = customer_rows[start : start + CUSTOMERS_PER_FILE]
        put(
            f"shop.customers.{n:09d}.sql",
            DATA_HEADER + insert_statements("customers", chunk, CUSTOMERS_PER_STATEMENT),
        )

    put("shop.orders-schema.sql", SCHEMA_HEADER + ORDERS_DDL)
    order_header = ["id", "customer_id", "amount", "status", "ordered_at", "shipped_at", "details"]
    order_rows = orders(rng)
    for n, start in enumerate(range(0, ORDERS, ORDERS_PER_FILE)):
        chunk = order_rows[start : start + ORDERS_PER_FILE]
        put(f"shop.orders.{n:09d}.csv", csv_text(order_header, chunk))

    put("shop.notes-schema.sql", SCHEMA_HEADER + NOTES_DDL)
    put("shop.notes.000000000.sql", DATA_HEADER + insert_statements("notes", notes(rng), 1000))
    gzip_file(out / "shop.notes.000000000.sql")

    put("shop.visits-schema.sql", SCHEMA_HEADER + VISITS_DDL)
    put("shop.visits.000000000.sql", DATA_HEADER + insert_statements("visits", visits(rng), 100))

    put("shop.big_customers-schema.sql", VIEW_PLACEHOLDER)
    put("shop.big_customers-schema-view.sql", VIEW_DDL)

    for db, first_id, count in (
        ("shop_archive_01", 1, ARCHIVE_01),
        ("shop_archive_02", 1_000_001, ARCHIVE_02),
    ):
        put(f"{db}.orders_2023-schema.sql", SCHEMA_HEADER + ARCHIVE_DDL)
        put(
            f"{db}.orders_2023.000000000.sql",
            DATA_HEADER + insert_statements("orders_2023", archive(rng, first_id, count), 50),
        )
    return sorted(path.name for path in out.iterdir())


def big_customer_count() -> int:
    """Rows the ``shop.big_customers`` view shows after import (recomputed from the seed)."""
    balances = [row[6] for row in customers(random.Random(SEED))]
    return sum(
        1 for balance in balances if isinstance(balance, Decimal) and balance > BIG_CUSTOMER_BALANCE
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write the dump (default ``examples/dump``) and print the expected counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    files = write_dump(args.out)
    total = sum((args.out / name).stat().st_size for name in files)
    print(f"wrote {len(files)} files, {total} bytes, into {args.out}")
    for table, rows in EXPECTED_ROWS.items():
        print(f"  {table}: {rows} rows")
    print(f"  shop.big_customers (view): {big_customer_count()} rows")


if __name__ == "__main__":
    main()
