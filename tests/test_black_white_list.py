"""``[black-white-list]``, the table filter's deprecated form: read as ``[mydumper] filter``
rules with Lightning's (MySQL replication) semantics, and imported as Lightning imports it."""

from __future__ import annotations

import fnmatch
import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_core.config import DEFAULT_FILTER, LightningConfig, config_from_toml
from lightning_core.errors import ConfigError
from lightning_core.source.table_filter import TableFilter, black_white_list_rules
from lightning_core.testing.tasks import run_lightning, task_config

SOURCE = "tidb-lightning.toml"

TABLES = [
    ("logs", "messages_2016"),
    ("logs", "messages_2018"),
    ("forum", "users"),
    ("forum", "messages"),
    ("forum_backup_2016", "messages"),
    ("forum_backup_2018", "messages"),
    ("forum_backup_2018", "users"),
    ("mysql", "user"),
]


def load(text: str) -> LightningConfig:
    return config_from_toml(text, SOURCE)


def imported(config: LightningConfig) -> list[tuple[str, str]]:
    table_filter = TableFilter.parse(config.mydumper.filter, config.mydumper.case_sensitive)
    return [(db, table) for db, table in TABLES if table_filter.match_table(db, table)]


def tables(key: str, *pairs: tuple[str, str]) -> str:
    return "".join(
        f'[[black-white-list.{key}]]\ndb-name = "{db}"\ntbl-name = "{table}"\n'
        for db, table in pairs
    )


CASES = {
    # do-dbs decides alone; ignore-dbs is not consulted when do-dbs is set
    "do-dbs": (
        '[black-white-list]\ndo-dbs = ["forum", "~_2018$"]\nignore-dbs = ["~^forum_backup_"]\n',
        ["forum.*", "/_2018$/.*"],
        [
            ("forum", "users"),
            ("forum", "messages"),
            ("forum_backup_2018", "messages"),
            ("forum_backup_2018", "users"),
        ],
    ),
    "ignore-dbs only": (
        '[black-white-list]\nignore-dbs = ["~^forum_backup_", "logs"]\n',
        ["*.*", "!/^forum_backup_/.*", "!logs.*"],
        [("forum", "users"), ("forum", "messages")],  # and never mysql: it is not named
    ),
    "do-tables with wildcards": (
        tables("do-tables", ("logs", "*_2018"), ("forum*", "messages")),
        ["logs.*_2018", "forum*.messages"],
        [
            ("logs", "messages_2018"),
            ("forum", "messages"),
            ("forum_backup_2016", "messages"),
            ("forum_backup_2018", "messages"),
        ],
    ),
    "ignore-tables only": (
        tables("ignore-tables", ("~.*", "~^messages")),
        ["*.*", "!/.*/./^messages/"],
        [("forum", "users"), ("forum_backup_2018", "users")],
    ),
    "do-tables and ignore-dbs": (
        '[black-white-list]\nignore-dbs = ["forum_backup_2016"]\n'
        + tables("do-tables", ("~^forum", "messages")),
        ["/^forum/.messages", "!forum_backup_2016.*"],
        [("forum", "messages"), ("forum_backup_2018", "messages")],
    ),
    "do-dbs and ignore-tables": (
        '[black-white-list]\ndo-dbs = ["forum_backup_2018", "logs"]\n'
        + tables("ignore-tables", ("*", "users"), ("logs", "messages_2016")),
        ["forum_backup_2018.*", "logs.*", "!*.users", "!logs.messages_2016"],
        [("logs", "messages_2018"), ("forum_backup_2018", "messages")],
    ),
    "do-dbs and do-tables intersect": (
        '[black-white-list]\ndo-dbs = ["forum*"]\n'
        + tables("do-tables", ("forum", "users"), ("logs", "messages_2018"), ("forum*", "m*"))
        + tables("ignore-tables", ("forum", "messages")),  # moot: do-tables decides
        ["forum.users", "forum*.m*"],
        [
            ("forum", "users"),
            ("forum", "messages"),
            ("forum_backup_2016", "messages"),
            ("forum_backup_2018", "messages"),
        ],
    ),
    "system schemas when named": (
        '[black-white-list]\ndo-dbs = ["mysql", "logs"]\n',
        ["mysql.*", "logs.*"],
        [("logs", "messages_2016"), ("logs", "messages_2018"), ("mysql", "user")],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_lists_become_filter_rules_with_lightning_semantics(case: str) -> None:
    text, rules, expected = CASES[case]
    config = load(text)
    assert config.mydumper.filter == tuple(rules)
    assert imported(config) == expected


def replication_rules_select(lists: dict[str, Sequence[Any]], schema: str, table: str) -> bool:
    """Lightning's decision (tidb-tools' filter, MySQL's replication rules), from its docs."""

    def matches(pattern: str, name: str) -> bool:
        if pattern.startswith("~"):
            return re.search(pattern[1:], name, re.IGNORECASE) is not None
        return fnmatch.fnmatchcase(name.lower(), pattern.lower())

    def in_tables(pairs: Sequence[tuple[str, str]]) -> bool:
        return any(matches(db, schema) and matches(tbl, table) for db, tbl in pairs)

    if lists["do_dbs"]:
        if not any(matches(pattern, schema) for pattern in lists["do_dbs"]):
            return False
    elif any(matches(pattern, schema) for pattern in lists["ignore_dbs"]):
        return False
    if in_tables(lists["do_tables"]):
        return True
    return not lists["do_tables"] and not in_tables(lists["ignore_tables"])


SCHEMAS = ["shop", "shop_1", "Sales", "tmp", "x-y", "a.b", "数据"]
NAMES = ["orders", "tmp_orders", "log", "log_2023", "t-1", "Log"]
SCHEMA_PATTERNS = [*SCHEMAS, "shop*", "sho?_1", "[st]*", "~^sh", "~s$", "~^(tmp|sales)$"]
TABLE_PATTERNS = [*NAMES, "log*", "*", "t?1", "~^tmp_", "~\\d+$"]


@st.composite
def black_white_lists(draw: st.DrawFn) -> dict[str, Sequence[Any]]:
    def pairs(schemas: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
        pair = st.tuples(st.sampled_from(schemas), st.sampled_from(TABLE_PATTERNS))
        return st.lists(pair, max_size=3)

    return {
        "do_dbs": draw(st.lists(st.sampled_from(SCHEMA_PATTERNS), max_size=3)),
        "ignore_dbs": draw(st.lists(st.sampled_from(SCHEMA_PATTERNS), max_size=3)),
        "do_tables": draw(pairs(SCHEMA_PATTERNS)),
        "ignore_tables": draw(pairs(SCHEMA_PATTERNS)),
    }


@settings(max_examples=300, deadline=None)
@given(black_white_lists())
def test_rules_select_what_the_replication_rules_select(lists: dict[str, Sequence[Any]]) -> None:
    try:
        rules = black_white_list_rules(**lists)
    except ConfigError:  # only do-tables that cannot be combined with do-dbs are refused
        assert lists["do_dbs"] and lists["do_tables"]
        return
    table_filter = TableFilter.parse(rules)
    for schema in SCHEMAS:
        for table in NAMES:
            expected = replication_rules_select(lists, schema, table)
            assert table_filter.match_table(schema, table) == expected, (schema, table, rules)


def test_punctuation_is_escaped_and_slashes_of_regexes_too() -> None:
    config = load(
        '[black-white-list]\ndo-dbs = ["my-db.v2", "[a-c]x", "~^a/b", "~^c\\\\/d", "数据"]\n'
    )
    assert config.mydumper.filter == (
        r"my\-db\.v2.*",
        "[a-c]x.*",
        r"/^a\/b/.*",
        r"/^c\/d/.*",
        "数据.*",
    )
    table_filter = TableFilter.parse(config.mydumper.filter)
    assert all(
        table_filter.match_schema(name) for name in ("my-db.v2", "bx", "a/b1", "c/d", "数据")
    )
    assert not table_filter.match_schema("my-dbxv2")


def test_case_sensitive_names_stay_case_sensitive() -> None:
    text = '[black-white-list]\ndo-dbs = ["Forum"]\n[mydumper]\ncase-sensitive = true\n'
    table_filter = TableFilter.parse(load(text).mydumper.filter, case_sensitive=True)
    assert table_filter.match_schema("Forum") and not table_filter.match_schema("forum")


def test_one_deprecation_line_names_the_equivalent_filter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        load('[black-white-list]\nignore-dbs = ["logs"]\n' + tables("do-tables", ("a", "b")))
    assert [r.getMessage() for r in caplog.records] == [
        f"{SOURCE}: [black-white-list] is deprecated; it is read as the equivalent "
        "[mydumper] filter = ['a.b', '!logs.*']"
    ]


def test_an_empty_section_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        config = load("[black-white-list]\ndo-dbs = []\n[mydumper]\nfilter = ['a.*']\n")
    assert config.mydumper.filter == ("a.*",)
    assert load("[black-white-list]\n").mydumper.filter == DEFAULT_FILTER
    assert not caplog.records


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[black-white-list]\ndo-dbs = ["a"]\n[mydumper]\nfilter = ["*.*"]\n',
            f"{SOURCE}: [black-white-list] and [mydumper] filter cannot both be set",
        ),
        (
            '[black-white-list]\ndo-dbs = ["a"]\ndo-table = []\n',
            f'{SOURCE}: unknown key "do-table" in [black-white-list]; did you mean "do-tables"?',
        ),
        (
            '[[black-white-list.do-tables]]\ndb-name = "a"\ntable-name = "b"\n',
            f'{SOURCE}: unknown key "table-name" in [[black-white-list.do-tables]] #1',
        ),
        (
            '[black-white-list]\ndo-dbs = "a"\n',
            f"{SOURCE}: invalid value for black-white-list.do-dbs: expected an array",
        ),
        (
            '[black-white-list]\ndo-dbs = ["a*"]\n' + tables("do-tables", ("b*", "t")),
            f"{SOURCE}: [black-white-list]: do-tables schema pattern 'b*' is not one of do-dbs",
        ),
        (
            '[black-white-list]\ndo-dbs = ["a"]\n' + tables("do-tables", ("b", "t")),
            f"{SOURCE}: [black-white-list]: no do-tables entry is in a schema of do-dbs",
        ),
        (
            '[black-white-list]\ndo-dbs = ["~(a"]\n',
            f"{SOURCE}: [black-white-list] has an invalid name: [mydumper] filter: invalid "
            "rule '/(a/.*'",
        ),
    ],
    ids=[
        "with-filter",
        "unknown-key",
        "unknown-table-key",
        "not-a-list",
        "pattern-outside-do-dbs",
        "nothing-left",
        "bad-regex",
    ],
)
def test_invalid_lists_are_refused_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(text)
    assert str(info.value).startswith(message), str(info.value)


# --- end to end, into the real MariaDB --------------------------------------------------------


@pytest.fixture
def tag(target_connection: Any) -> Iterator[str]:
    """A unique prefix of the databases of one test; they are all dropped afterwards."""
    prefix = f"lt_{uuid.uuid4().hex[:8]}"
    yield prefix
    with target_connection.cursor() as cur:
        cur.execute("SHOW DATABASES")
        for (database,) in cur.fetchall():
            if database.startswith(prefix):
                cur.execute(f"DROP DATABASE `{database}`")


@pytest.mark.slow
def test_black_white_list_import_takes_only_the_selected_tables(
    tmp_path: Path, target_connection: Any, tag: str
) -> None:
    dump = tmp_path / "dump"
    dump.mkdir()
    for db in ("keep", "drop", "keep-2"):
        (dump / f"{tag}_{db}-schema-create.sql").write_text(f"CREATE DATABASE `{tag}_{db}`;")
        for table in ("a", "b"):
            (dump / f"{tag}_{db}.{table}-schema.sql").write_text(
                f"CREATE TABLE `{table}` (id int PRIMARY KEY);"
            )
            (dump / f"{tag}_{db}.{table}.sql").write_text(f"INSERT INTO `{table}` VALUES (1);")
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(dump)
        + f'[black-white-list]\ndo-dbs = ["{tag}_keep", "~^{tag}_keep-"]\n'
        + tables("ignore-tables", (f"{tag}_keep", "b"))
    )
    result = run_lightning(["--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("[black-white-list] is deprecated") == 1
    with target_connection.cursor() as cur:
        cur.execute(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA LIKE '{tag}%' ORDER BY 1, 2"
        )
        found = [tuple(row) for row in cur.fetchall()]
    assert found == [(f"{tag}_keep", "a"), (f"{tag}_keep-2", "a"), (f"{tag}_keep-2", "b")]
