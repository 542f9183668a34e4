"""Black/white lists: translated rules must select exactly the tables Loader selected."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatchcase

from hypothesis import given, settings
from hypothesis import strategies as st
from lightning_migrate_loader.filters import (
    BlackWhiteList,
    TablePattern,
    filter_name,
    translate_black_white_list,
)
from migrate_loader_support import Migrate

from lightning_core.source.table_filter import TableFilter


def loader_selects(bw: BlackWhiteList, schema: str, table: str) -> bool:
    """Loader's decision (tidb-tools filter: MySQL replication rules), written from its docs."""

    def name_matches(pattern: str, name: str) -> bool:
        if pattern.startswith("~"):
            return re.search(pattern[1:], name, re.IGNORECASE) is not None
        return fnmatchcase(name.lower(), pattern.lower())

    def table_matches(rule: TablePattern) -> bool:
        return name_matches(rule.db, schema) and name_matches(rule.table, table)

    if bw.do_dbs:
        if not any(name_matches(p, schema) for p in bw.do_dbs):
            return False
    elif any(name_matches(p, schema) for p in bw.ignore_dbs):
        return False
    if bw.do_tables:
        return any(table_matches(t) for t in bw.do_tables)
    return not any(table_matches(t) for t in bw.ignore_tables)


SCHEMAS = ["shop", "shop_1", "sales", "tmp", "x-y", "a.b"]
TABLES = ["orders", "tmp_orders", "log", "log_2023", "t-1"]
SCHEMA_PATTERNS = [*SCHEMAS, "shop*", "sho?_1", "~^sh", "~s$", "~^(tmp|sales)$"]
TABLE_PATTERNS = [*TABLES, "log*", "*", "~^tmp_", "~\\d+$"]


def lightning_selects(rules: tuple[str, ...], schema: str, table: str) -> bool:
    return TableFilter.parse(list(rules)).match_table(schema, table)


@st.composite
def black_white_lists(draw: st.DrawFn) -> BlackWhiteList:
    do_dbs = draw(st.lists(st.sampled_from(SCHEMA_PATTERNS), max_size=3))
    table_rule = st.builds(
        TablePattern,
        # With do-dbs set, a do-tables schema must be literal to be intersected exactly.
        db=st.sampled_from(SCHEMAS if do_dbs else SCHEMA_PATTERNS),
        table=st.sampled_from(TABLE_PATTERNS),
    )
    return BlackWhiteList(
        do_dbs=tuple(do_dbs),
        ignore_dbs=tuple(draw(st.lists(st.sampled_from(SCHEMA_PATTERNS), max_size=3))),
        do_tables=tuple(draw(st.lists(table_rule, max_size=3))),
        ignore_tables=tuple(
            draw(
                st.lists(
                    st.builds(
                        TablePattern,
                        db=st.sampled_from(SCHEMA_PATTERNS),
                        table=st.sampled_from(TABLE_PATTERNS),
                    ),
                    max_size=3,
                )
            )
        ),
    )


@settings(max_examples=300, deadline=None)
@given(black_white_lists())
def test_translated_rules_select_what_loader_selected(bw: BlackWhiteList) -> None:
    translation = translate_black_white_list(bw)
    if bw.is_empty():
        assert translation.rules == ()
        return
    for schema in SCHEMAS:
        for table in TABLES:
            expected = loader_selects(bw, schema, table)
            assert lightning_selects(translation.rules, schema, table) == expected, (
                schema,
                table,
                translation.rules,
            )


def test_includes_come_before_excludes() -> None:
    bw = BlackWhiteList(
        ignore_dbs=("tmp",),
        ignore_tables=(TablePattern(db="shop", table="~^tmp_"),),
    )
    rules = translate_black_white_list(bw).rules
    assert rules[0] == "*.*"
    assert rules[-2:] == ("!tmp.*", "!shop./^tmp_/")
    assert all(rule.startswith("!") for rule in rules[1:])


def test_only_ignore_lists_keep_lightnings_system_schema_excludes() -> None:
    rules = translate_black_white_list(BlackWhiteList(ignore_dbs=("tmp",))).rules
    assert "!mysql.*" in rules
    assert not lightning_selects(rules, "mysql", "user")


def test_loader_names_become_table_filter_syntax() -> None:
    assert filter_name("~^shop_\\d+$") == "/^shop_\\d+$/"
    assert filter_name("~a/b") == "/a\\/b/"
    assert filter_name("shard_*") == "shard_*"
    assert filter_name("x-y.z") == "x\\-y\\.z"
    assert filter_name("库") == "库"
    assert filter_name("shop_[a-c]") == "shop_[a-c]"  # a class keeps its range


def test_a_character_class_selects_what_loader_selected() -> None:
    rules = translate_black_white_list(BlackWhiteList(do_dbs=("shop_[a-c]",))).rules
    assert lightning_selects(rules, "shop_b", "t")
    assert not lightning_selects(rules, "shop_d", "t")


def test_do_table_outside_do_dbs_is_dropped_with_a_note() -> None:
    bw = BlackWhiteList(
        do_dbs=("shop",),
        do_tables=(TablePattern(db="shop", table="orders"), TablePattern(db="hr", table="staff")),
    )
    translation = translate_black_white_list(bw)
    assert translation.rules == ("shop.orders",)
    assert any("'hr'" in note for note in translation.notes)


def test_do_table_schema_pattern_with_do_dbs_is_kept_with_a_note() -> None:
    bw = BlackWhiteList(do_dbs=("shop",), do_tables=(TablePattern(db="~^sh", table="orders"),))
    translation = translate_black_white_list(bw)
    assert translation.rules == ("/^sh/.orders",)
    assert any("cannot also require" in note for note in translation.notes)


def test_v2_black_white_list_section(migrate_and_load: Migrate) -> None:
    text = (
        'dir = "/data"\n'
        "# Only the shop schemas.\n"
        "[black-white-list]\n"
        'do-dbs = ["~^shop", "sales"]\n'
        "[[black-white-list.ignore-tables]]\n"
        'db-name = "shop"\n'
        'tbl-name = "~^tmp_"\n'
    )
    result, config = migrate_and_load(text)
    assert config.mydumper.filter == ("/^shop/.*", "sales.*", "!shop./^tmp_/")
    assert "# Only the shop schemas." in result.text.split("[mydumper]")[1]
    assert result.notes == ()


def test_v1_top_level_lists(migrate_and_load: Migrate) -> None:
    text = (
        'do-db = ["~^b.*", "s1"]\n'
        "[[do-table]]\n"
        'db-name = "s1"\n'
        'tbl-name = "log"\n'
        "[[do-table]]\n"
        'db-name = "s1"\n'
        'tbl-name = "~^a.*"\n'
    )
    _, config = migrate_and_load(text)
    assert config.mydumper.filter == ("s1.log", "s1./^a.*/")


def test_syncer_style_replicate_lists(migrate_and_load: Migrate) -> None:
    text = (
        'replicate-ignore-db = ["tmp"]\n'
        "[[replicate-ignore-table]]\n"
        'db-name = "shop"\n'
        'tbl-name = "log"\n'
    )
    _, config = migrate_and_load(text)
    rules = config.mydumper.filter
    assert rules[0] == "*.*"
    assert rules[-2:] == ("!tmp.*", "!shop.log")


def test_filter_is_a_multiline_array_when_long(migrate_and_load: Migrate) -> None:
    result, _ = migrate_and_load('ignore-db = ["a", "b"]\n')
    assert 'filter = [\n    "*.*",' in result.text
    assert tomllib.loads(result.text)["mydumper"]["filter"][-1] == "!b.*"


def test_malformed_table_entry_is_an_error(migrate_and_load: Migrate) -> None:
    import pytest
    from lightning_migrate_loader import MigrationError

    with pytest.raises(MigrationError, match="db-name and tbl-name"):
        migrate_and_load('[[do-table]]\ntbl-name = "x"\n')
