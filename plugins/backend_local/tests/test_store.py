"""The embedded store: catalog, ingest, scans, sharing, durability, and its Target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from lightning_backend_local.options import LocalOptions
from lightning_backend_local.sst import write_sst
from lightning_backend_local.store import (
    CATALOG_FILE,
    FIRST_TABLE_ID,
    EmbeddedStore,
    EmbeddedTarget,
)
from store_support import SQL_MODE, fill_table

from lightning_core import (
    FileKind,
    KVChecksum,
    SchemaError,
    SourceFile,
    TableKVEncoder,
    Target,
    TargetError,
    parse_create_table,
    record_prefix,
    table_prefix,
)
from lightning_core.config import load_config_file

SBTEST = (
    "CREATE TABLE `sbtest` (`id` INT NOT NULL AUTO_INCREMENT, `k` INT NOT NULL DEFAULT 0, "
    "`c` CHAR(120) NOT NULL DEFAULT '', `pad` VARCHAR(60) NOT NULL DEFAULT '', "
    "PRIMARY KEY (`id`), KEY `k_1` (`k`))"
)


def sbtest_rows(count: int, start: int = 1) -> list[list[Any]]:
    return [[i, i % 7, f"c-{i}", f"pad {i}"] for i in range(start, start + count)]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = EmbeddedStore.open(str(tmp_path / "store"))
    yield opened
    opened.close()


def reopen(store: EmbeddedStore) -> EmbeddedStore:
    """Close the only reference and open the directory again (the catalog is read anew)."""
    path = store.path
    store.close()
    return EmbeddedStore.open(path)


# --- catalog ---------------------------------------------------------------------------------


def test_create_table_assigns_ids_once_and_keeps_them(store: EmbeddedStore) -> None:
    first = store.create_table("db", "a", "CREATE TABLE `a` (x INT)")
    second = store.create_table("db", "b", "CREATE TABLE `b` (x INT)")
    assert (first, second) == (FIRST_TABLE_ID, FIRST_TABLE_ID + 1)
    # again, with another spelling and statement: the same ID, the first statement kept
    assert store.create_table("DB", "A", "CREATE TABLE `A` (y INT)") == first
    store = reopen(store)
    try:
        assert store.create_table("db", "a", "CREATE TABLE `a` (x INT)") == first
        assert store.create_table("db", "c", "CREATE TABLE `c` (x INT)") == FIRST_TABLE_ID + 2
        found = store.table("db", "a")
        assert found is not None and found.statement == "CREATE TABLE `a` (x INT)"
        assert [t.name for t in store.tables()] == ["a", "b", "c"]
        assert store.table("db", "missing") is None
    finally:
        store.close()


def test_databases_and_rebase_keep_the_first_and_the_largest(store: EmbeddedStore) -> None:
    store.create_database("db", "CREATE DATABASE IF NOT EXISTS `db` CHARACTER SET latin1")
    store.create_database("DB", "CREATE DATABASE IF NOT EXISTS `DB`")
    store.create_table("db", "t", "CREATE TABLE `t` (x INT)")
    store.rebase("db", "t", 50)
    store.rebase("db", "t", 20)
    store = reopen(store)
    assert store.databases() == {"db": "CREATE DATABASE IF NOT EXISTS `db` CHARACTER SET latin1"}
    found = store.table("db", "t")
    assert found is not None and found.auto_id_base == 50
    with pytest.raises(SchemaError, match="not in the store"):
        store.rebase("db", "nope", 1)
    store.close()


def test_a_failed_catalog_write_leaves_the_previous_catalog(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_table("db", "t", "CREATE TABLE `t` (x INT)")
    before = Path(store.catalog_path).read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="killed"):
        store.create_table("db", "u", "CREATE TABLE `u` (x INT)")
    monkeypatch.undo()
    assert Path(store.catalog_path).read_bytes() == before
    assert store.table("db", "u") is None  # nor in memory
    assert sorted(n for n in os.listdir(store.path) if n.startswith(CATALOG_FILE)) == [
        CATALOG_FILE,
        f"{CATALOG_FILE}.tmp",
    ]
    store = reopen(store)
    assert [t.name for t in store.tables()] == ["t"]
    # the next write replaces the leftover temporary file
    store.create_table("db", "u", "CREATE TABLE `u` (x INT)")
    assert json.loads(Path(store.catalog_path).read_text())["next_table_id"] == FIRST_TABLE_ID + 2
    store.close()


def test_a_corrupt_catalog_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / CATALOG_FILE).write_text("{")
    with pytest.raises(SchemaError, match=r"catalog\.json.*not valid JSON"):
        EmbeddedStore.open(str(tmp_path / "s"))


# --- KV pairs --------------------------------------------------------------------------------


def test_ingest_counts_and_checksums_what_the_encoder_made(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    table_id, expected = fill_table(
        store, tmp_path / "sst", schema="db", statement=SBTEST, rows=sbtest_rows(300), files=3
    )
    assert not list((tmp_path / "sst").iterdir())  # the files were moved into the store
    assert store.count(record_prefix(table_id)) == 300
    got = KVChecksum()
    got.update(store.scan(table_prefix(table_id)))
    assert got == expected and got.total_kvs == 600
    keys = [k for k, _ in store.scan(table_prefix(table_id))]
    assert keys == sorted(keys)
    assert all(k.startswith(table_prefix(table_id)) for k in keys)


def test_overlapping_files_and_repeated_ingest_leave_one_copy(
    store: EmbeddedStore, tmp_path: Path
) -> None:
    model = parse_create_table(SBTEST, table_id=store.create_table("db", "sbtest", SBTEST))
    encoder = TableKVEncoder(model, sql_mode=SQL_MODE)
    rows = [[str(v).encode() if isinstance(v, str) else v for v in r] for r in sbtest_rows(20)]
    pairs = sorted(encoder.encode_rows(rows))
    checksum = KVChecksum()
    checksum.update(pairs)
    for attempt in range(2):  # a resumed import ingests the same engine again
        paths = []
        for n, part in enumerate((pairs[:30], pairs[10:])):  # overlapping files
            path = tmp_path / f"{attempt}-{n}.sst"
            write_sst(str(path), part)
            paths.append(str(path))
        store.ingest(paths)
    got = KVChecksum()
    got.update(store.scan(table_prefix(model.id)))
    assert got == checksum
    assert store.count(record_prefix(model.id)) == 20


def test_later_files_win_for_the_same_key(store: EmbeddedStore, tmp_path: Path) -> None:
    write_sst(str(tmp_path / "a.sst"), [(b"k1", b"old"), (b"k2", b"old")])
    write_sst(str(tmp_path / "b.sst"), [(b"k2", b"new"), (b"k3", b"new")])
    store.ingest([str(tmp_path / "a.sst"), str(tmp_path / "b.sst")])
    assert list(store.scan(b"k")) == [(b"k1", b"old"), (b"k2", b"new"), (b"k3", b"new")]
    assert list(store.scan(b"k2")) == [(b"k2", b"new")]
    assert list(store.scan(b"x")) == []


def test_open_shares_one_instance_per_path(tmp_path: Path) -> None:
    first = EmbeddedStore.open(str(tmp_path / "s"))
    second = EmbeddedStore.open(str(tmp_path / "x" / ".." / "s"))
    assert first is second
    first.close()
    second.create_table("db", "t", "CREATE TABLE `t` (x INT)")  # still open
    second.close()
    third = EmbeddedStore.open(str(tmp_path / "s"))  # RocksDB's lock was released
    assert third is not first and third.table("db", "t") is not None
    third.close()


def test_an_ingest_survives_a_sigkill_right_after_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal
        from lightning_backend_local.sst import write_sst
        from lightning_backend_local.store import EmbeddedStore
        store = EmbeddedStore.open({str(tmp_path / "s")!r})
        store.create_table("db", "t", "CREATE TABLE `t` (x INT)")
        pairs = [(b"t%05d" % i, b"v" * 100) for i in range(1000)]
        write_sst({str(tmp_path / "a.sst")!r}, pairs)
        store.ingest([{str(tmp_path / "a.sst")!r}])
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    store = EmbeddedStore.open(str(tmp_path / "s"))
    try:
        assert store.count(b"t") == 1000
        assert store.table("db", "t") is not None
    finally:
        store.close()


# --- the target ------------------------------------------------------------------------------


def make_config(tmp_path: Path, extra: str = "") -> Any:
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(
        f'[tikv-importer]\nbackend = "local"\n[mydumper]\ndata-source-dir = "{tmp_path}"\n'
        f'{extra}[tidb]\nsql-mode = "{SQL_MODE}"\n'
    )
    return load_config_file(str(path))


def schema_file(path: Path, text: str, schema: str, table: str | None, kind: FileKind) -> Any:
    path.write_text(text)
    return SourceFile(path=str(path), schema=schema, table=table, kind=kind, size=len(text))


def table_plan(target: tuple[str, str], file: Any, *, view: bool = False) -> Any:
    """The parts of a table's plan a Target reads (``lightning_core`` exports no plan maker)."""
    return SimpleNamespace(
        target_schema=target[0], target_table=target[1], schema_file=file, is_view=view
    )


def make_plan(tmp_path: Path) -> Any:
    """``src.orders`` routed to ``dst.orders2``, ``src.plain`` kept, a view and a table with
    no schema file."""
    create_db = schema_file(
        tmp_path / "src-schema-create.sql",
        "CREATE DATABASE `src` /*!40100 DEFAULT CHARACTER SET latin1 */;\n",
        "src",
        None,
        FileKind.SCHEMA_CREATE,
    )
    orders = schema_file(
        tmp_path / "src.orders-schema.sql",
        "/*!40101 SET NAMES binary*/;\nCREATE TABLE `orders` (\n  `id` BIGINT NOT NULL "
        "AUTO_INCREMENT,\n  `qty` INT,\n  `total` INT AS (`qty` * 2) VIRTUAL,\n  `note` "
        "VARCHAR(20),\n  PRIMARY KEY (`id`)\n);\n",
        "src",
        "orders",
        FileKind.TABLE_SCHEMA,
    )
    plain = schema_file(
        tmp_path / "src.plain-schema.sql",
        "CREATE TABLE IF NOT EXISTS `src`.`plain` (`a` INT);\n",
        "src",
        "plain",
        FileKind.TABLE_SCHEMA,
    )
    view = schema_file(
        tmp_path / "src.v-schema-view.sql",
        "CREATE VIEW `v` AS SELECT 1;\n",
        "src",
        "v",
        FileKind.VIEW_SCHEMA,
    )
    tables = [
        table_plan(("dst", "orders2"), orders),
        table_plan(("src", "plain"), plain),
        table_plan(("src", "nofile"), None),
    ]
    return SimpleNamespace(
        tables=[SimpleNamespace(plan=t) for t in tables],
        source=SimpleNamespace(
            schemas=[("src", create_db), ("dst", None)],
            tables=[*tables, table_plan(("src", "v"), view, view=True)],
        ),
    )


def test_target_creates_routed_tables_once(tmp_path: Path, caplog: Any) -> None:
    config = make_config(tmp_path)
    target = EmbeddedTarget(config=config, options=LocalOptions(store_dir=str(tmp_path / "s")))
    members = {n for n in vars(Target) if not n.startswith("_")} | set(Target.__annotations__)
    assert members and all(hasattr(target, name) for name in members)
    try:
        plan = make_plan(tmp_path)
        with caplog.at_level("INFO"):
            target.create_schemas(plan)
        assert "view src.v skipped" in caplog.text
        target.create_schemas(plan)  # idempotent
        assert target.location == str(tmp_path / "s")
        orders = target.table("dst", "orders2", model=True)
        assert orders is not None
        assert orders.columns == ("id", "qty", "note")  # the generated column left out
        assert orders.table_id == FIRST_TABLE_ID and orders.model is not None
        assert orders.model.name == "orders2" and orders.model.id == FIRST_TABLE_ID
        plain = target.table("src", "plain")
        assert plain is not None and plain.model is None
        assert plain.table_id == FIRST_TABLE_ID + 1
        assert target.table("src", "nofile") is None and target.table("src", "v") is None
        store = EmbeddedStore.open(target.location)
        try:
            assert store.databases() == {
                "dst": "CREATE DATABASE IF NOT EXISTS `dst`",
                "src": "CREATE DATABASE IF NOT EXISTS `src` CHARACTER SET latin1",
            }
            stored = store.table("src", "plain")
            assert stored is not None
            assert stored.statement == "CREATE TABLE `plain` (`a` INT)"
        finally:
            store.close()
    finally:
        target.close()


def test_target_counts_checksums_and_rebases(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    target = EmbeddedTarget(config=config, options=LocalOptions(store_dir=str(tmp_path / "s")))
    store = EmbeddedStore.open(str(tmp_path / "s"))
    try:
        _, expected = fill_table(
            store, tmp_path / "sst", schema="db", statement=SBTEST, rows=sbtest_rows(50)
        )
        fill_table(  # a neighbour whose pairs must not be counted
            store,
            tmp_path / "sst",
            schema="db",
            statement=SBTEST.replace("`sbtest`", "`other`"),
            rows=sbtest_rows(5),
        )
        table = target.table("db", "sbtest")
        assert table is not None
        assert target.count_rows(table) == 50
        assert target.checksum(table) == expected
        target.rebase(table, 50)
        target.rebase(table, 7)
        target.analyze(table)
        found = store.table("db", "sbtest")
        assert found is not None and found.auto_id_base == 50
    finally:
        store.close()
        target.close()


def test_target_refuses_what_the_kv_model_cannot_parse(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    target = EmbeddedTarget(config=config, options=LocalOptions(store_dir=str(tmp_path / "s")))
    try:
        file = schema_file(
            tmp_path / "db.p-schema.sql",
            "CREATE TABLE `p` (`a` INT) PARTITION BY HASH (`a`) PARTITIONS 4;",
            "db",
            "p",
            FileKind.TABLE_SCHEMA,
        )
        plan = SimpleNamespace(
            tables=[SimpleNamespace(plan=table_plan(("db", "p"), file))],
            source=SimpleNamespace(schemas=[], tables=[]),
        )
        with pytest.raises(SchemaError, match=r"db\.p-schema\.sql.*cannot parse"):
            target.create_schemas(plan)
        assert target.table("db", "p") is None
    finally:
        target.close()


def test_target_with_no_schema_creates_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, "no-schema = true\n")
    target = EmbeddedTarget(config=config, options=LocalOptions(store_dir=str(tmp_path / "s")))
    try:
        target.create_schemas(make_plan(tmp_path))
        assert target.table("dst", "orders2") is None
    finally:
        target.close()


def test_a_store_held_by_another_process_is_refused_clearly(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from lightning_backend_local.store import EmbeddedStore
        store = EmbeddedStore.open({str(tmp_path / "s")!r})
        print("open", flush=True)
        sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(TargetError, match="another tidb-lightning uses it"):
            EmbeddedStore.open(str(tmp_path / "s"))
    finally:
        holder.communicate("")
    EmbeddedStore.open(str(tmp_path / "s")).close()  # and the failed open left nothing behind


def test_a_catalog_of_another_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / CATALOG_FILE).write_text('{"version": 99}')
    with pytest.raises(SchemaError, match="catalog version 99"):
        EmbeddedStore.open(str(tmp_path / "s"))
    (tmp_path / "s" / CATALOG_FILE).unlink()
    EmbeddedStore.open(str(tmp_path / "s")).close()  # the refused open released RocksDB
