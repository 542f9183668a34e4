"""Tests of data-source discovery: file routing, filter, routes, grouping."""

from __future__ import annotations

import gzip
from pathlib import Path

import attrs
import pytest
import zstandard

from lightning_core.config import FileRule, MydumperConfig, RouteRule
from lightning_core.errors import ConfigError, SourceError
from lightning_core.interfaces import FileKind
from lightning_core.source.discovery import SourcePlan, TablePlan, discover

ZSTD = zstandard.ZstdCompressor().compress(b"x")
"""A valid zstd file: discovery checks the header of each compressed file it plans."""


def write(root: Path, rel: str, content: bytes | str = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def plan_of(root: Path, routes: list[RouteRule] | None = None, **mydumper: object) -> SourcePlan:
    config = MydumperConfig(data_source_dir=str(root), **mydumper)  # type: ignore[arg-type]
    return discover(config, routes or ())


def table(plan: SourcePlan, schema: str, name: str) -> TablePlan:
    for t in plan.tables:
        if (t.target_schema, t.target_table) == (schema, name):
            return t
    raise AssertionError(f"no table {schema}.{name} in {[t.target_table for t in plan.tables]}")


def names(files: tuple) -> list[str]:  # type: ignore[type-arg]
    return [Path(f.path).name for f in files]


def test_mydumper_layout(tmp_path: Path) -> None:
    write(tmp_path, "shop-schema-create.sql", "CREATE DATABASE shop;")
    write(tmp_path, "shop.orders-schema.sql", "CREATE TABLE orders (id int);")
    write(tmp_path, "shop.orders.000000002.sql", "INSERT INTO orders VALUES (2);")
    write(tmp_path, "shop.orders.000000001.sql", "INSERT INTO orders VALUES (1);")
    write(tmp_path, "shop.orders.000000010.sql", "INSERT INTO orders VALUES (10);")
    write(tmp_path, "shop.users.sql", "INSERT INTO users VALUES (1);")
    write(tmp_path, "metadata", "Started dump at: 2024-01-01")
    plan = plan_of(tmp_path)

    assert plan.data_source_dir == str(tmp_path)
    assert [s for s, _ in plan.schemas] == ["shop"]
    schema_file = plan.schemas[0][1]
    assert schema_file is not None
    assert schema_file.kind is FileKind.SCHEMA_CREATE
    assert schema_file.table is None

    orders = table(plan, "shop", "orders")
    assert orders.sources == (("shop", "orders"),)
    assert orders.schema_file is not None
    assert orders.schema_file.kind is FileKind.TABLE_SCHEMA
    assert names(orders.data_files) == [
        "shop.orders.000000001.sql",
        "shop.orders.000000002.sql",
        "shop.orders.000000010.sql",
    ]
    first = orders.data_files[0]
    assert first.kind is FileKind.DATA
    assert first.format == "sql"
    assert first.compression is None
    assert first.sort_key == "000000001"
    assert first.size == len("INSERT INTO orders VALUES (1);")
    assert Path(first.path).is_absolute()
    assert orders.total_size == sum(f.size for f in orders.data_files)
    assert not orders.is_view

    users = table(plan, "shop", "users")
    assert users.schema_file is None  # the table must then already exist on the target
    assert users.data_files[0].sort_key == ""

    assert plan.ignored == ("metadata",)
    assert plan.unmatched == ()
    assert [(t.target_schema, t.target_table) for t in plan.tables] == [
        ("shop", "orders"),
        ("shop", "users"),
    ]


def test_formats_and_compression(tmp_path: Path) -> None:
    write(tmp_path, "db.a.1.csv.gz", gzip.compress(b"x\n1\n"))
    write(tmp_path, "db.a.2.csv.zst", ZSTD)
    write(tmp_path, "db.a.3.CSV.ZSTD", ZSTD)
    write(tmp_path, "db.b.0001.parquet", b"PAR1")
    write(tmp_path, "db.b.0002.snappy.parquet", b"PAR1")
    write(tmp_path, "db.c.sql.gzip", gzip.compress(b"g"))
    write(tmp_path, "db.c-schema.sql.gz", gzip.compress(b"CREATE TABLE c (x int);"))
    write(tmp_path, "db-schema-create.sql.zst", ZSTD)
    plan = plan_of(tmp_path)
    a = table(plan, "db", "a")
    assert [(f.format, f.compression, f.sort_key) for f in a.data_files] == [
        ("csv", "gz", "1"),
        ("csv", "zst", "2"),
        ("csv", "zst", "3"),
    ]
    b = table(plan, "db", "b")
    assert [(f.format, f.compression, f.sort_key) for f in b.data_files] == [
        ("parquet", None, "0001"),
        ("parquet", None, "0002"),
    ]
    c = table(plan, "db", "c")
    assert c.data_files[0].compression == "gz"
    assert c.schema_file is not None and c.schema_file.compression == "gz"
    assert plan.schemas[0][1] is not None and plan.schemas[0][1].compression == "zst"
    assert plan.unmatched == ()


def test_dotted_table_names_and_subdirectories(tmp_path: Path) -> None:
    write(tmp_path, "part1/db.my.table-schema.sql")
    write(tmp_path, "part1/db.my.table.001.sql")
    write(tmp_path, "part2/deeper/db.my.table.002.sql")
    plan = plan_of(tmp_path)
    t = table(plan, "db", "my.table")
    assert names(t.data_files) == ["db.my.table.001.sql", "db.my.table.002.sql"]
    assert t.schema_file is not None


def test_percent_escaped_names_are_decoded(tmp_path: Path) -> None:
    write(tmp_path, "a%2Fb-schema-create.sql")
    write(tmp_path, "a%2Fb.t%2E1-schema.sql")
    write(tmp_path, "a%2Fb.t%2E1.0.csv")
    write(tmp_path, "db.bad%zz.sql")  # not a valid escape: kept as written
    plan = plan_of(tmp_path)
    assert [s for s, _ in plan.schemas] == ["a/b", "db"]
    assert table(plan, "a/b", "t.1").data_files
    assert table(plan, "db", "bad%zz").data_files


def test_known_files_are_ignored_and_others_reported(tmp_path: Path) -> None:
    write(tmp_path, "db.t-schema-triggers.sql")
    write(tmp_path, "db.t-schema-trigger.sql")
    write(tmp_path, "db-schema-post.sql")
    write(tmp_path, "db.t.001.sql.bak")
    write(tmp_path, "metadata.partial")
    write(tmp_path, "sub/metadata")
    write(tmp_path, "README.md")
    write(tmp_path, "db.t.001.sql.tmp")
    write(tmp_path, "notes.txt")
    write(tmp_path, "db.t.001.sql")
    plan = plan_of(tmp_path)
    assert plan.ignored == (
        "db-schema-post.sql",
        "db.t-schema-trigger.sql",
        "db.t-schema-triggers.sql",
        "db.t.001.sql.bak",
        "metadata.partial",
        "sub/metadata",
    )
    assert plan.unmatched == ("README.md", "db.t.001.sql.tmp", "notes.txt")
    assert names(table(plan, "db", "t").data_files) == ["db.t.001.sql"]


def test_unsupported_compression_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "db.t.001.csv.lz4")
    with pytest.raises(SourceError, match="lz4 compression is not supported") as info:
        plan_of(tmp_path)
    assert info.value.path == str(path)


def test_compressed_parquet_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "db.t.001.parquet.gz")
    with pytest.raises(SourceError, match="parquet"):
        plan_of(tmp_path)


def test_views(tmp_path: Path) -> None:
    write(tmp_path, "db.t-schema.sql", "CREATE TABLE t (x int);")
    write(tmp_path, "db.v-schema.sql", "CREATE TABLE v (x int);")  # dumpling's placeholder
    write(tmp_path, "db.v-schema-view.sql", "CREATE VIEW v AS SELECT * FROM t;")
    plan = plan_of(tmp_path)
    view = table(plan, "db", "v")
    assert view.is_view
    assert view.data_files == ()
    assert view.schema_file is not None and view.schema_file.kind is FileKind.VIEW_SCHEMA
    assert plan.ignored == ("db.v-schema.sql",)
    assert not table(plan, "db", "t").is_view


def test_view_with_data_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "db.v-schema-view.sql")
    write(tmp_path, "db.v.001.sql")
    with pytest.raises(SourceError, match="is a view"):
        plan_of(tmp_path)


def test_duplicate_schema_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a/db.t-schema.sql")
    write(tmp_path, "b/db.t-schema.sql")
    with pytest.raises(SourceError, match="second CREATE TABLE"):
        plan_of(tmp_path)


def test_duplicate_schema_create_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a/db-schema-create.sql")
    write(tmp_path, "b/db-schema-create.sql.gz", gzip.compress(b"x"))
    with pytest.raises(SourceError, match="second CREATE DATABASE"):
        plan_of(tmp_path)


def test_filter_applies_to_source_names(tmp_path: Path) -> None:
    write(tmp_path, "mysql-schema-create.sql")
    write(tmp_path, "mysql.user-schema.sql")
    write(tmp_path, "app-schema-create.sql")
    write(tmp_path, "app.keep.sql")
    write(tmp_path, "app.skip.sql")
    write(tmp_path, "app.skip-schema.sql")
    write(tmp_path, "empty-schema-create.sql")
    plan = plan_of(tmp_path, filter=("*.*", "!mysql.*", "!app.skip"))
    assert [s for s, _ in plan.schemas] == ["app", "empty"]
    assert [(t.target_schema, t.target_table) for t in plan.tables] == [("app", "keep")]
    assert plan.filtered == (
        "app.skip-schema.sql",
        "app.skip.sql",
        "mysql-schema-create.sql",
        "mysql.user-schema.sql",
    )
    assert plan.unmatched == ()


def test_filter_case_sensitivity(tmp_path: Path) -> None:
    write(tmp_path, "App.T.sql")
    assert plan_of(tmp_path, filter=("app.t",)).tables
    assert not plan_of(tmp_path, filter=("app.t",), case_sensitive=True).tables


def test_routes_merge_shards(tmp_path: Path) -> None:
    for n in (1, 2):
        write(tmp_path, f"shard_{n}-schema-create.sql", f"CREATE DATABASE shard_{n};")
        write(tmp_path, f"shard_{n}.orders-schema.sql", "CREATE TABLE orders (id int);")
        write(tmp_path, f"shard_{n}.orders.001.sql", "INSERT ...;")
        write(tmp_path, f"shard_{n}.orders.002.sql", "INSERT ...;")
    write(tmp_path, "shard_1.local.sql")
    routes = [
        RouteRule(schema_pattern="shard_*", target_schema="merged"),
        RouteRule(
            schema_pattern="shard_*",
            table_pattern="orders",
            target_schema="merged",
            target_table="all_orders",
        ),
    ]
    plan = plan_of(tmp_path, routes)
    assert [s for s, _ in plan.schemas] == ["merged"]
    merged_file = plan.schemas[0][1]
    assert merged_file is not None and Path(merged_file.path).name == "shard_1-schema-create.sql"
    orders = table(plan, "merged", "all_orders")
    assert orders.sources == (("shard_1", "orders"), ("shard_2", "orders"))
    assert orders.schema_file is not None
    assert Path(orders.schema_file.path).name == "shard_1.orders-schema.sql"
    assert names(orders.data_files) == [
        "shard_1.orders.001.sql",
        "shard_1.orders.002.sql",
        "shard_2.orders.001.sql",
        "shard_2.orders.002.sql",
    ]
    # Files keep their source names; the plan carries the target.
    assert orders.data_files[2].schema == "shard_2"
    assert table(plan, "merged", "local").sources == (("shard_1", "local"),)


def test_table_only_route_borrows_a_schema_file(tmp_path: Path) -> None:
    write(tmp_path, "src-schema-create.sql")
    write(tmp_path, "src.t.sql")
    routes = [RouteRule(schema_pattern="src", table_pattern="t", target_schema="dst")]
    plan = plan_of(tmp_path, routes)
    # The source schema stays (its CREATE DATABASE file is not routed); the target borrows it.
    assert [(s, Path(f.path).name if f else None) for s, f in plan.schemas] == [
        ("dst", "src-schema-create.sql"),
        ("src", "src-schema-create.sql"),
    ]
    assert table(plan, "dst", "t").sources == (("src", "t"),)


def test_filter_runs_before_routes(tmp_path: Path) -> None:
    write(tmp_path, "shard_1.t.sql")
    write(tmp_path, "shard_2.t.sql")
    routes = [RouteRule(schema_pattern="shard_*", target_schema="merged")]
    plan = plan_of(tmp_path, routes, filter=("shard_1.*",))
    assert table(plan, "merged", "t").sources == (("shard_1", "t"),)


def test_bad_route_names_its_index(tmp_path: Path) -> None:
    write(tmp_path, "db.t.sql")
    with pytest.raises(ConfigError, match=r"\[\[routes\]\] #1"):
        plan_of(tmp_path, [RouteRule(schema_pattern="", target_schema="x")])


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[mydumper\] data-source-dir"):
        plan_of(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"\[mydumper\] data-source-dir"):
        discover(MydumperConfig())
    file = write(tmp_path, "a-file")
    with pytest.raises(ConfigError, match="not a directory"):
        plan_of(file)


# --- custom [[mydumper.files]] rules -----------------------------------------------------------


def test_custom_rules_come_first(tmp_path: Path) -> None:
    write(tmp_path, "export/2024/orders_part7.dat.gz", gzip.compress(b"1,2\n"))
    write(tmp_path, "export/2024/skip_me.csv")
    write(tmp_path, "db.t.csv")  # still routed by the defaults
    rules = (
        FileRule(pattern=r"skip_", type="ignore"),
        FileRule(
            pattern=r"^export/(?P<year>\d+)/(\w+?)_part(\d+)\.dat(?:\.(gz))?$",
            schema="sales_${year}",
            table="$2",
            type="csv",
            key="$3",
            compression="$4",
        ),
    )
    plan = plan_of(tmp_path, files=rules)
    orders = table(plan, "sales_2024", "orders")
    f = orders.data_files[0]
    assert (f.format, f.compression, f.sort_key) == ("csv", "gz", "7")
    assert plan.ignored == ("export/2024/skip_me.csv",)
    assert table(plan, "db", "t").data_files


def test_custom_rule_types_and_go_style_names(tmp_path: Path) -> None:
    write(tmp_path, "x/create_db_a.sql")
    write(tmp_path, "x/create_a_t.sql")
    write(tmp_path, "x/a_t_1.sql.zst", ZSTD)
    write(tmp_path, "x/a_t_$2.sql")
    rules = (
        FileRule(pattern=r"create_db_(\w+)\.sql$", schema="$1", type="schema-schema"),
        FileRule(pattern=r"create_(\w+?)_(\w+)\.sql$", schema="$1", table="$2", type="$$x"),
        FileRule(
            pattern=r"(?<db>[a-z]+)_(?<tbl>[a-z]+)_(\d+)\.(sql)",
            schema="$db",
            table="${tbl}",
            type="$4",
            key="$3",
        ),
    )
    with pytest.raises(ConfigError, match=r"#2: .* gives type '\$x'"):
        plan_of(tmp_path, files=rules, default_file_rules=False)
    rules = (rules[0], attrs.evolve(rules[1], type="table-schema"), rules[2])
    plan = plan_of(tmp_path, files=rules, default_file_rules=False)
    assert plan.schemas[0][0] == "a"
    t = table(plan, "a", "t")
    assert t.schema_file is not None and Path(t.schema_file.path).name == "create_a_t.sql"
    # A rule that does not mention compression trusts the file name.
    assert [(f.sort_key, f.compression) for f in t.data_files] == [("1", "zst")]
    assert plan.unmatched == ("x/a_t_$2.sql",)


def test_default_rules_can_be_turned_off(tmp_path: Path) -> None:
    write(tmp_path, "db.t.sql")
    plan = plan_of(tmp_path, default_file_rules=False)
    assert plan.tables == ()
    assert plan.unmatched == ("db.t.sql",)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (FileRule(pattern="", type="sql", schema="a", table="b"), "pattern and path are empty"),
        (FileRule(pattern="x", path="y", type="sql", schema="a", table="b"), "not both"),
        (FileRule(pattern="(", type="sql", schema="a", table="b"), "invalid pattern"),
        (FileRule(pattern="x", schema="a", table="b"), "type is empty"),
        (FileRule(pattern="x", type="json", schema="a", table="b"), "unknown type 'json'"),
        (FileRule(pattern="x", type="sql", table="b"), "schema is empty"),
        (FileRule(pattern="x", type="sql", schema="a"), "table is empty"),
        (FileRule(pattern="(x)", type="sql", schema="$2", table="b"), r"\$2.*1 capture"),
        (FileRule(pattern="(x)", type="sql", schema="${nope}", table="b"), "nope"),
    ],
)
def test_invalid_custom_rules(tmp_path: Path, rule: FileRule, message: str) -> None:
    with pytest.raises(ConfigError, match=r"\[\[mydumper.files\]\] #1: .*" + message):
        plan_of(tmp_path, files=(rule,))


def test_a_rule_that_yields_an_empty_name_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "t.sql")
    rule = FileRule(pattern=r"(\w*)\.sql", schema="x$9", table="", type="schema-schema")
    with pytest.raises(ConfigError, match="capture"):
        plan_of(tmp_path, files=(rule,))
    rule = FileRule(pattern=r"(z*)(\w+)\.sql", schema="$1", table="$2", type="sql")
    with pytest.raises(ConfigError, match="empty schema or table"):
        plan_of(tmp_path, files=(rule,))


def test_a_target_schema_keeps_its_own_create_file(tmp_path: Path) -> None:
    write(tmp_path, "a_shard-schema-create.sql")
    write(tmp_path, "a_shard.t.sql")
    write(tmp_path, "z-schema-create.sql")
    write(tmp_path, "z.u.sql")
    routes = [RouteRule(schema_pattern="a_*", target_schema="z")]
    plan = plan_of(tmp_path, routes)
    assert [(s, Path(f.path).name if f else None) for s, f in plan.schemas] == [
        ("z", "z-schema-create.sql")
    ]
    assert [t.target_table for t in plan.tables] == ["t", "u"]


def test_path_rules_name_one_file_literally(tmp_path: Path) -> None:
    write(tmp_path, "odd/data (1).txt")
    write(tmp_path, "odd/data (1)xtxt")
    absolute = write(tmp_path, "schema.ddl")
    rules = (
        FileRule(path="odd/data (1).txt", schema="db", table="t$1", type="csv"),
        FileRule(path=str(absolute), schema="db", table="t$1", type="table-schema"),
    )
    plan = plan_of(tmp_path, files=rules)
    t = table(plan, "db", "t$1")  # '$1' in a path rule is literal
    assert names(t.data_files) == ["data (1).txt"]
    assert t.schema_file is not None and Path(t.schema_file.path).name == "schema.ddl"
    assert plan.unmatched == ("odd/data (1)xtxt",)


def test_names_differing_only_in_case_are_one_table_unless_case_sensitive(tmp_path: Path) -> None:
    write(tmp_path, "Db.T.000000001.sql")
    write(tmp_path, "db.t.000000002.csv")
    merged = discover(MydumperConfig(data_source_dir=str(tmp_path)))
    (table,) = merged.tables
    assert (table.target_schema, table.target_table) == ("Db", "T")
    assert len(table.data_files) == 2
    apart = discover(MydumperConfig(data_source_dir=str(tmp_path), case_sensitive=True))
    assert len(apart.tables) == 2
