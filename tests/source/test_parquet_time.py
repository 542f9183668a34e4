"""Parquet dates, times and timestamps: ``isAdjustedToUTC`` decides between an instant and a
wall-clock time, as in Lightning, and the session time zone places instants in TIMESTAMP and
DATETIME columns."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lightning_core.config import MydumperConfig
from lightning_core.interfaces import Chunk, FileKind, SourceFile, Value
from lightning_core.schema import MysqlTime
from lightning_core.schema.convert import make_converter
from lightning_core.schema.ddl import parse_create_table
from lightning_core.source.parquet_reader import ParquetReader
from lightning_core.testing.tasks import run_lightning, task_config

UTC = datetime.UTC
NANOS = 1_640_998_923_123_456_789  # 2022-01-01 01:02:03.123456789 UTC
WALL = datetime.datetime(2022, 1, 1, 1, 2, 3, 123456)
WALL_MS = WALL.replace(microsecond=123000)
UNITS = ("millis", "micros", "nanos")
TIME_OF_DAY_NANOS = (3600 + 2 * 60 + 3) * 10**9 + 123_456_789

# column: (Arrow type written, raw value in the type's unit, value read)
COLUMNS: dict[str, tuple[Any, int, Value]] = {
    "ts_millis_utc": (pa.timestamp("ms", tz="UTC"), NANOS // 10**6, WALL_MS.replace(tzinfo=UTC)),
    "ts_micros_utc": (pa.timestamp("us", tz="UTC"), NANOS // 10**3, WALL.replace(tzinfo=UTC)),
    "ts_nanos_utc": (pa.timestamp("ns", tz="UTC"), NANOS, WALL.replace(tzinfo=UTC)),
    "ts_millis_local": (pa.timestamp("ms"), NANOS // 10**6, WALL_MS),
    "ts_micros_local": (pa.timestamp("us"), NANOS // 10**3, WALL),
    "ts_nanos_local": (pa.timestamp("ns"), NANOS, WALL),
    "day": (pa.date32(), NANOS // (86400 * 10**9), datetime.date(2022, 1, 1)),
    "time_millis": (pa.time32("ms"), TIME_OF_DAY_NANOS // 10**6, datetime.time(1, 2, 3, 123000)),
    "time_micros": (pa.time64("us"), TIME_OF_DAY_NANOS // 10**3, datetime.time(1, 2, 3, 123456)),
    "time_nanos": (pa.time64("ns"), TIME_OF_DAY_NANOS, datetime.time(1, 2, 3, 123456)),
}


def write_times(path: Path, *, int96: bool = False) -> None:
    arrays = {name: pa.array([raw, None], kind) for name, (kind, raw, _) in COLUMNS.items()}
    pq.write_table(pa.table(arrays), path, use_deprecated_int96_timestamps=int96)


def read(path: Path) -> dict[str, Value]:
    file = SourceFile(
        path=str(path),
        schema="d",
        table="t",
        kind=FileKind.DATA,
        format="parquet",
        size=path.stat().st_size,
    )
    reader = ParquetReader(chunk=Chunk(file=file, index=0), mydumper=MydumperConfig(), sql_mode="")
    [batch] = list(reader.batches())
    assert batch.columns is not None
    assert all(value is None for value in batch.rows[1])
    return dict(zip(batch.columns, batch.rows[0], strict=True))


def test_each_logical_type_is_read_with_its_time_zone_semantics(tmp_path: Path) -> None:
    path = tmp_path / "times.parquet"
    write_times(path)
    schema = pq.ParquetFile(path).schema
    logical = {column.name: json.loads(column.logical_type.to_json()) for column in schema}
    assert [logical[f"ts_{unit}_utc"]["isAdjustedToUTC"] for unit in UNITS] == [True] * 3
    assert [logical[f"ts_{unit}_local"]["isAdjustedToUTC"] for unit in UNITS] == [False] * 3
    found = read(path)
    assert found == {name: expected for name, (_, _, expected) in COLUMNS.items()}
    for name, value in found.items():
        is_instant = name.endswith("_utc")
        assert not isinstance(value, datetime.datetime) or (value.tzinfo is not None) == is_instant


def test_int96_timestamps_are_instants_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "int96.parquet"
    write_times(path, int96=True)
    physical = {column.name: column.physical_type for column in pq.ParquetFile(path).schema}
    assert physical["ts_nanos_local"] == physical["ts_micros_utc"] == "INT96"
    found = read(path)
    for name in ("ts_millis_local", "ts_micros_local", "ts_nanos_local", "ts_micros_utc"):
        expected = COLUMNS[name][2]
        assert isinstance(expected, datetime.datetime)
        assert found[name] == expected.replace(tzinfo=UTC)


def column_value(type_sql: str, value: Value, time_zone: str) -> object:
    table = parse_create_table(f"CREATE TABLE t (c {type_sql})", table_id=1, schema="d")
    convert = make_converter(
        table, table.columns[0], sql_mode="STRICT_ALL_TABLES", time_zone=time_zone
    )
    return convert(value)


def test_instants_take_the_session_time_zone_and_wall_clock_times_are_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "times.parquet"
    write_times(path)
    found = read(path)
    # a DATETIME column holds the session's wall-clock time, a TIMESTAMP column UTC
    eight = MysqlTime(2022, 1, 1, 9, 2, 3, 123456)
    utc = MysqlTime(2022, 1, 1, 1, 2, 3, 123456)
    eight_hours_before = MysqlTime(2021, 12, 31, 17, 2, 3, 123456)
    assert column_value("datetime(6)", found["ts_micros_utc"], "+08:00") == eight
    assert column_value("timestamp(6)", found["ts_micros_utc"], "+08:00") == utc
    assert column_value("datetime(6)", found["ts_micros_local"], "+08:00") == utc
    assert column_value("timestamp(6)", found["ts_micros_local"], "+08:00") == eight_hours_before


# --- end to end, into the real MariaDB --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("int96", [False, True], ids=["logical-types", "int96"])
def test_tidb_backend_imports_each_logical_type(
    tmp_path: Path, target_connection: Any, fresh_database: str, int96: bool
) -> None:
    db = fresh_database
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}-schema-create.sql").write_text(f"CREATE DATABASE `{db}`;")
    columns = ["id int PRIMARY KEY AUTO_INCREMENT"]
    for name, (kind, _, _) in COLUMNS.items():
        if pa.types.is_timestamp(kind):
            columns += [f"`{name}` datetime(6)", f"`{name}_ts` timestamp(6) NULL"]
        else:
            columns.append(f"`{name}` {'date' if pa.types.is_date(kind) else 'time(6)'}")
    (dump / f"{db}.t-schema.sql").write_text(f"CREATE TABLE `t` ({', '.join(columns)});")
    path = dump / f"{db}.t.parquet"
    write_times(path, int96=int96)
    table = pq.read_table(path)
    for name, (kind, _, _) in COLUMNS.items():  # the same values into TIMESTAMP columns
        if pa.types.is_timestamp(kind):
            table = table.append_column(f"{name}_ts", table.column(name))
    pq.write_table(table, path, use_deprecated_int96_timestamps=int96)
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(task_config(dump))
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    with target_connection.cursor() as cur:
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"SELECT * FROM `{db}`.t ORDER BY id")
        names = [d[0] for d in cur.description]
        first, second = (dict(zip(names, row, strict=True)) for row in cur.fetchall())
    # the session is +00:00 (docs/tidb-backend.md): instants and wall-clock times agree
    for name, (_, _, expected) in COLUMNS.items():
        if isinstance(expected, datetime.datetime):
            wall = expected.replace(tzinfo=None)
            assert first[name] == first[f"{name}_ts"] == wall, name
        elif isinstance(expected, datetime.time):  # the driver reads TIME as a timedelta
            midnight = datetime.datetime.combine(datetime.date.min, datetime.time())
            since_midnight = datetime.datetime.combine(datetime.date.min, expected) - midnight
            assert first[name] == since_midnight, name
        else:
            assert first[name] == expected, name
    assert {value for key, value in second.items() if key != "id"} == {None}
