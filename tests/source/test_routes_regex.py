"""``[[routes]]`` patterns that start with ``~`` are regular expressions, as in TiDB Lightning.

Before this was added, ``~`` was a literal character and such rules matched nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_core.config import MydumperConfig, RouteRule
from lightning_core.errors import ConfigError
from lightning_core.source.discovery import discover
from lightning_core.source.routes import Router


def test_regex_schema_and_table_patterns() -> None:
    router = Router.from_rules(
        [
            RouteRule(
                schema_pattern=r"~^shard_\d+$",
                table_pattern=r"~^orders_(\d+)$",
                target_schema="shop",
                target_table="orders",
            )
        ]
    )
    assert router.route("shard_1", "orders_07") == ("shop", "orders")
    assert router.route("SHARD_22", "ORDERS_1") == ("shop", "orders")  # case-insensitive
    assert router.route("shard_x", "orders_1") == ("shard_x", "orders_1")
    assert router.route("shard_1", "orders_1_old") == ("shard_1", "orders_1_old")


def test_unanchored_regex_matches_anywhere_like_go() -> None:
    router = Router.from_rules([RouteRule(schema_pattern="~log", target_schema="logs")])
    assert router.route_schema("app_log_2024") == "logs"
    assert router.route_schema("app") == "app"


def test_case_sensitive_regex() -> None:
    rules = [RouteRule(schema_pattern="~^Db$", target_schema="x")]
    assert Router.from_rules(rules, case_sensitive=True).route_schema("db") == "db"
    assert Router.from_rules(rules, case_sensitive=True).route_schema("Db") == "x"


def test_wildcards_are_unchanged_without_tilde() -> None:
    router = Router.from_rules([RouteRule(schema_pattern="a.b*", target_schema="x")])
    assert router.route_schema("a.bc") == "x"
    assert router.route_schema("axbc") == "axbc"


def test_invalid_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\[\[routes\]\] #1: invalid regular expression"):
        Router.from_rules([RouteRule(schema_pattern="~(", target_schema="x")])


def test_shards_merge_through_regex_routes_in_discovery(tmp_path: Path) -> None:
    for shard in (1, 2):
        (tmp_path / f"s{shard}-schema-create.sql").write_text(f"CREATE DATABASE s{shard};")
        (tmp_path / f"s{shard}.t{shard}-schema.sql").write_text(f"CREATE TABLE t{shard} (a int);")
        (tmp_path / f"s{shard}.t{shard}.sql").write_text(f"INSERT INTO t{shard} VALUES ({shard});")
    routes = [
        RouteRule(
            schema_pattern=r"~^s\d$", table_pattern=r"~^t\d$", target_schema="all", target_table="t"
        ),
        RouteRule(schema_pattern=r"~^s\d$", target_schema="all"),
    ]
    plan = discover(MydumperConfig(data_source_dir=str(tmp_path)), routes)
    assert [(t.target_schema, t.target_table, t.sources) for t in plan.tables] == [
        ("all", "t", (("s1", "t1"), ("s2", "t2")))
    ]
    assert [name for name, _ in plan.schemas] == ["all"]
