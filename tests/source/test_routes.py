"""Tests of ``[[routes]]``."""

from __future__ import annotations

import pytest

from lightning_core.config import RouteRule
from lightning_core.errors import ConfigError
from lightning_core.source.routes import Router, compile_wildcard


def rule(schema: str, table: str, target_schema: str, target_table: str = "") -> RouteRule:
    return RouteRule(
        schema_pattern=schema,
        table_pattern=table,
        target_schema=target_schema,
        target_table=target_table,
    )


def test_no_rules_leaves_names_unchanged() -> None:
    router = Router.from_rules([])
    assert not router
    assert router.route("db", "t") == ("db", "t")


def test_shard_merging() -> None:
    router = Router.from_rules(
        [rule("shard_db_*", "", "db"), rule("shard_db_*", "order_?", "db", "orders")]
    )
    assert router
    assert router.route("shard_db_01", "order_1") == ("db", "orders")
    assert router.route("SHARD_DB_02", "ORDER_2") == ("db", "orders")
    # A schema-only rule keeps the table name.
    assert router.route("shard_db_01", "users") == ("db", "users")
    assert router.route("shard_db_01", "order_12") == ("db", "order_12")
    assert router.route("other", "order_1") == ("other", "order_1")
    assert router.route_schema("shard_db_07") == "db"
    assert router.route_schema("other") == "other"


def test_table_rules_take_priority_over_schema_rules() -> None:
    router = Router.from_rules([rule("a*", "t", "x", "tt"), rule("a*", "", "y")])
    assert router.route("ab", "t") == ("x", "tt")
    assert router.route("ab", "u") == ("y", "u")
    assert router.route("ab", "") == ("y", "")


def test_table_rule_without_target_table_keeps_name() -> None:
    router = Router.from_rules([rule("s", "t*", "target")])
    assert router.route("s", "t1") == ("target", "t1")
    # Table rules do not route a schema on its own.
    assert router.route_schema("s") == "s"


def test_case_sensitive_routes() -> None:
    router = Router.from_rules([rule("Db", "", "x")], case_sensitive=True)
    assert router.route("Db", "t") == ("x", "t")
    assert router.route("db", "t") == ("db", "t")


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("db*", "db", True),
        ("db*", "dbxyz", True),
        ("*_log", "a_log", True),
        ("d?", "db", True),
        ("d?", "d", False),
        ("d[a-c]", "db", True),
        ("d[a-c]", "dd", False),
        ("d[!a-c]", "dd", True),
        ("d[!a-c]", "da", False),
        ("d[!]", "d!", True),
        ("a.b", "a.b", True),
        ("a.b", "axb", False),
        ("a+", "a+", True),
        ("a[", "a[", True),
    ],
)
def test_wildcards(pattern: str, name: str, expected: bool) -> None:
    assert (compile_wildcard(pattern).fullmatch(name) is not None) is expected


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([rule("", "t", "x")], r"\[\[routes\]\] #1: schema-pattern is empty"),
        ([rule("a", "", "x"), rule("b", "t", "")], r"\[\[routes\]\] #2: target-schema is empty"),
        ([rule("a*", "", "x"), rule("A*", "", "y")], r"#2: same patterns as \[\[routes\]\] #1"),
    ],
)
def test_invalid_rules(rules: list[RouteRule], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Router.from_rules(rules)


def test_ambiguous_match_is_an_error() -> None:
    router = Router.from_rules([rule("a*", "", "x"), rule("ab*", "", "y")])
    with pytest.raises(ConfigError, match=r"`abc`.*#1.*#2"):
        router.route("abc", "t")
    assert router.route("axe", "t") == ("x", "t")
    tables = Router.from_rules([rule("a", "t*", "x"), rule("a", "*", "y")])
    with pytest.raises(ConfigError, match="overlap"):
        tables.route("a", "t1")
    assert tables.route("a", "u") == ("y", "u")
