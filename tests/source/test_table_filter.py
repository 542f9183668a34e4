"""Tests of the ``[mydumper] filter`` syntax."""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lightning_core.config import DEFAULT_FILTER
from lightning_core.errors import ConfigError
from lightning_core.source.table_filter import TableFilter


def accepts(rules: list[str], schema: str, table: str, case_sensitive: bool = False) -> bool:
    return TableFilter.parse(rules, case_sensitive).match_table(schema, table)


def test_plain_names_match_exactly() -> None:
    f = TableFilter.parse(["db1.tbl1", "db2.tbl2"])
    assert f.match_table("db1", "tbl1")
    assert f.match_table("db2", "tbl2")
    assert not f.match_table("db1", "tbl2")
    assert not f.match_table("db1", "tbl10")


def test_no_rule_matching_excludes() -> None:
    assert not accepts([], "db", "t")
    assert not accepts(["a.b"], "db", "t")


@pytest.mark.parametrize(
    ("rule", "schema", "table", "expected"),
    [
        ("db*.*", "db", "t", True),
        ("db*.*", "db_prod", "t", True),
        ("db*.*", "xdb", "t", False),
        ("db?.t", "db1", "t", True),
        ("db?.t", "db", "t", False),
        ("db?.t", "db12", "t", False),
        ("db[0-9].t", "db7", "t", True),
        ("db[0-9].t", "dbx", "t", False),
        ("db[!0-9].t", "dbx", "t", True),
        ("db[!0-9].t", "db7", "t", False),
        ("db[^x].t", "db^", "t", True),  # '^' in a glob class is an ordinary character
        ("db[^x].t", "dbx", "t", True),
        ("db[^x].t", "dby", "t", False),
        ("*.*_log", "a", "access_log", True),
        ("*.*_log", "a", "log", False),
        ("d$b.t_1", "d$b", "t_1", True),
        ("数据.表", "数据", "表", True),
        ("*.*", "any", "thing", True),
    ],
)
def test_wildcards(rule: str, schema: str, table: str, expected: bool) -> None:
    assert accepts([rule], schema, table) is expected


def test_backslash_escapes_punctuation() -> None:
    assert accepts([r"db\.x.t\*"], "db.x", "t*")
    assert not accepts([r"db\.x.t\*"], "db.x", "tt")
    assert accepts([r"a\-b.c"], "a-b", "c")


def test_quoted_names() -> None:
    assert accepts(['"db.with.dots"."t-1"'], "db.with.dots", "t-1")
    assert accepts(["`a``b`.`*`"], "a`b", "*")
    assert not accepts(["`a``b`.`*`"], "a`b", "x")  # quoted '*' is literal
    assert accepts(['"say ""hi""".t'], 'say "hi"', "t")


def test_regular_expressions_match_anywhere() -> None:
    f = TableFilter.parse([r"/^db\d+$/./tmp/"])
    assert f.match_table("db12", "a_tmp_b")
    assert not f.match_table("db12x", "tmp")
    assert not f.match_table("db1", "temp")
    assert accepts([r"/a\/b/.t"], "xa/by", "t")


def test_later_rules_take_precedence() -> None:
    rules = ["*.*", "!db.*", "db.keep"]
    assert accepts(rules, "other", "t")
    assert not accepts(rules, "db", "t")
    assert accepts(rules, "db", "keep")
    assert not accepts(["db.keep", "!db.*"], "db", "keep")


def test_comments_blank_lines_and_whitespace() -> None:
    f = TableFilter.parse(["  # a comment", "", "\tdb.t  "])
    assert len(f.rules) == 1
    assert f.match_table("db", "t")


def test_case_insensitive_by_default() -> None:
    assert accepts(["DB.T*"], "db", "tbl")
    assert accepts(["db.t"], "DB", "T")
    assert accepts(["/^DB$/.t"], "db", "T")
    assert accepts(["`Db`.`T`"], "dB", "t")
    assert not accepts(["DB.T"], "db", "t", case_sensitive=True)
    assert accepts(["DB.T"], "DB", "T", case_sensitive=True)
    assert not accepts(["/^DB$/.t"], "db", "t", case_sensitive=True)


def test_default_filter_excludes_system_schemas() -> None:
    f = TableFilter.parse(DEFAULT_FILTER)
    assert f.match_table("app", "users")
    for schema in ("mysql", "sys", "information_schema", "PERFORMANCE_SCHEMA", "metrics_schema"):
        assert not f.match_table(schema, "t")
        assert not f.match_schema(schema)
    assert f.match_schema("app")


def test_match_schema() -> None:
    f = TableFilter.parse(["db.*", "!db.secret", "other.t", "!gone.*"])
    assert f.match_schema("db")  # excluding one table leaves the schema
    assert f.match_schema("other")  # one table of it is wanted
    assert not f.match_schema("gone")
    assert not f.match_schema("unknown")
    assert not TableFilter.parse(["*.*", "!db.*"]).match_schema("db")
    assert TableFilter.parse(["!db.*", "db.t"]).match_schema("db")


def test_import_rules_from_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "filter.txt"
    rules.write_text("# tables to import\ndb.*\n!db.skip\n")
    f = TableFilter.parse([f"@{rules}"])
    assert f.match_table("db", "t")
    assert not f.match_table("db", "skip")


def test_import_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"\[mydumper\] filter.*cannot read"):
        TableFilter.parse([f"@{tmp_path / 'missing.txt'}"])
    nested = tmp_path / "nested.txt"
    nested.write_text("@other.txt\n")
    with pytest.raises(ConfigError, match="cannot import other files"):
        TableFilter.parse([f"@{nested}"])
    bad = tmp_path / "bad.txt"
    bad.write_text("db.t\nnodot\n")
    with pytest.raises(ConfigError, match=r"bad\.txt:2"):
        TableFilter.parse([f"@{bad}"])


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("nodot", "both parts"),
        ("db.", "missing"),
        (".t", "empty"),
        ("db.t.x", "unexpected '.'"),
        ("db-1.t", "unexpected character '-'"),
        ("db.t ", None),  # trailing blanks are trimmed: valid
        (r"db.t\\", None),
        ("db.t\\", "cannot end"),
        (r"d\b.t", "reserved"),
        ("db[.t", "character class"),
        ("db[].t", "character class"),
        ("/unclosed.t", "closing '/'"),
        ("//.t", "closing '/'"),
        ("/(/.t", "invalid regular expression"),
        ('"open.t', "closing"),
        ('"".t', "closing"),
        ("`db`x.t", "both parts"),
        ("!", "missing"),
    ],
)
def test_bad_rules(rule: str, reason: str | None) -> None:
    if reason is None:
        TableFilter.parse([rule])
        return
    with pytest.raises(ConfigError) as info:
        TableFilter.parse(["*.*", rule])
    message = str(info.value)
    assert "[mydumper] filter" in message
    assert repr(rule.strip()) in message
    assert reason in message


# --- properties --------------------------------------------------------------------------------

_plain = st.text(alphabet=string.ascii_letters + string.digits + "_$", min_size=1, max_size=12)
_any_name = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


def _backticked(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@given(_plain, _plain)
def test_a_plain_name_matches_itself(schema: str, table: str) -> None:
    f = TableFilter.parse([f"{schema}.{table}"])
    assert f.match_table(schema, table)
    assert f.match_table(schema.upper(), table.lower())
    assert f.match_schema(schema)


@given(_any_name, _any_name)
def test_any_quoted_name_matches_itself_and_only_itself(schema: str, table: str) -> None:
    f = TableFilter.parse([f"{_backticked(schema)}.{_backticked(table)}"], case_sensitive=True)
    assert f.match_table(schema, table)
    assert not f.match_table(schema + "x", table)
    assert not f.match_table(schema, table + "x")


@given(_any_name, _any_name)
def test_escaped_punctuation_is_literal(schema: str, table: str) -> None:
    def escape(name: str) -> str:
        out = []
        for char in name:
            if char.isascii() and not (char.isalnum() or char in "_$"):
                out.append("\\" + char)
            else:
                out.append(char)
        return "".join(out)

    if any(c.isspace() for c in schema + table):
        return  # rules are trimmed, so edge blanks cannot be written unquoted
    f = TableFilter.parse([f"{escape(schema)}.{escape(table)}"], case_sensitive=True)
    assert f.match_table(schema, table)


@given(_plain, _plain, st.lists(st.sampled_from(["*.*", "db*.*", "*.t*", "a?.*"]), max_size=3))
def test_exclusion_after_inclusion_wins(schema: str, table: str, earlier: list[str]) -> None:
    rules = [*earlier, f"{schema}.{table}", f"!{schema}.{table}"]
    assert not TableFilter.parse(rules).match_table(schema, table)
    rules.append(f"{schema}.*")
    assert TableFilter.parse(rules).match_table(schema, table)


@given(_plain, _plain)
def test_exclude_everything_then_nothing_matches(schema: str, table: str) -> None:
    f = TableFilter.parse(["*.*", "!*.*"])
    assert not f.match_table(schema, table)
    assert not f.match_schema(schema)


# --- Lightning's documented examples (docs.pingcap.com, "Table Filter") ----------------------


@pytest.mark.parametrize(
    ("schema", "table", "expected"),
    [
        ("irrelevant", "table", False),  # no rule: default (reject)
        ("employees", "employees", True),  # rule 1
        ("employees", "dept_emp", False),  # rule 2
        ("employees", "departments", True),  # rule 3
        ("else", "departments", True),  # rule 3
    ],
)
def test_documented_precedence_table(schema: str, table: str, expected: bool) -> None:
    rules = ["# rule 1", "employees.*", "# rule 2", "!*.dep*", "# rule 3", "*.departments"]
    assert accepts(rules, schema, table) is expected


def test_documented_exclusion_needs_a_leading_include() -> None:
    assert not accepts(["!*.Password"], "db", "t")  # "every table will be filtered out"
    assert accepts(["*.*", "!*.Password"], "db", "t")
    assert not accepts(["*.*", "!*.Password"], "db", "password")
    rules = ["*.*", "!*.Password", "!employees.salaries"]
    assert not accepts(rules, "employees", "salaries")
    assert accepts(rules, "employees", "titles")


@pytest.mark.parametrize("schema", ["mysql", "sys", "INFORMATION_SCHEMA", "performance_schema"])
def test_system_schemas_stay_out_unless_a_rule_names_them(schema: str) -> None:
    # issue 16.4: Lightning's black-white-list test filter, with a leading exclusion
    rules = ["!firstdb.*", "*.second", "seconddb.fourth"]
    assert not accepts(rules, schema, "testtable")
    assert not accepts(rules, schema, "second")
    assert not TableFilter.parse(rules).match_schema(schema)
    assert not accepts(["*.*"], schema, "t")
    assert not accepts(["/.*/.*"], schema, "t")
    assert accepts([f"{schema}.t"], schema, "t")
    assert accepts([f"`{schema}`.*"], schema, "t")
    assert TableFilter.parse([f"{schema}.t"]).match_schema(schema)
    assert not accepts([f"{schema}.*", "*.*", "!*.x"], schema, "x")
    assert accepts([f"{schema}.*", "*.*", "!*.x"], schema, "y")


def test_leading_exclusion_filter_of_lightnings_test() -> None:
    rules = ["!firstdb.*", "*.second", "seconddb.fourth"]
    assert not accepts(rules, "firstdb", "first")
    assert accepts(rules, "firstdb", "second")
    assert not accepts(rules, "seconddb", "third")
    assert accepts(rules, "seconddb", "fourth")
    assert accepts(rules, "thirddb", "second")


_MODEL_SCHEMAS = ["db1", "db2", "emp", "mysql", "SYS", "information_schema"]
_MODEL_TABLES = ["t1", "t2", "second", "dept"]
_model_pattern = st.sampled_from(["*", "db*", "?b1", "e*", "mysql", "sys", "t?", "*nd", "dept"])
_model_rule = st.tuples(st.booleans(), _model_pattern, _model_pattern)


def _model(rules: list[tuple[bool, str, str]], schema: str, table: str) -> bool:
    """Lightning's rule, written independently: last match decides, no match excludes, and a
    system schema also needs a matching include rule that spells its name."""
    import fnmatch

    schema, table = schema.lower(), table.lower()
    decided = named = False
    for include, schema_pattern, table_pattern in rules:
        if fnmatch.fnmatchcase(schema, schema_pattern) and fnmatch.fnmatchcase(
            table, table_pattern
        ):
            decided = include
            named = named or (include and schema_pattern == schema)
    if schema in {"mysql", "sys", "information_schema", "performance_schema"}:
        return decided and named
    return decided


@settings(max_examples=400)
@given(
    st.lists(_model_rule, max_size=6),
    st.sampled_from(_MODEL_SCHEMAS),
    st.sampled_from(_MODEL_TABLES),
)
@example([(False, "db*", "*"), (True, "*", "second")], "mysql", "second")
@example([(True, "*", "t?"), (False, "db1", "*")], "db1", "t1")
def test_filter_agrees_with_the_documented_model(
    rules: list[tuple[bool, str, str]], schema: str, table: str
) -> None:
    text = [("" if include else "!") + f"{s}.{t}" for include, s, t in rules]
    assert accepts(text, schema, table) is _model(rules, schema, table)
