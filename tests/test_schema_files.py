"""Schema files split into statements by the data files' grammar, after decoding."""

from __future__ import annotations

from lightning_core.pipeline.schema_files import split_statements


def test_semicolons_inside_quotes_names_and_comments_do_not_end_a_statement() -> None:
    text = (
        "/*!40101 SET NAMES binary*/;\n"
        "-- a comment; still a comment\n"
        "CREATE TABLE `a;b` (c varchar(3) DEFAULT 'x;y' COMMENT \"p;q\" /* r;s */);\n"
        "CREATE VIEW v AS SELECT 1"
    )
    assert split_statements(text) == [
        "CREATE TABLE `a;b` (c varchar(3) DEFAULT 'x;y' COMMENT \"p;q\" /* r;s */)",
        "CREATE VIEW v AS SELECT 1",
    ]


def test_backslashes_follow_no_backslash_escapes() -> None:
    text = "CREATE TABLE t (c varchar(3) DEFAULT 'a\\';b');"
    assert split_statements(text) == ["CREATE TABLE t (c varchar(3) DEFAULT 'a\\';b')"]
    assert split_statements(text, sql_mode="NO_BACKSLASH_ESCAPES") == [
        "CREATE TABLE t (c varchar(3) DEFAULT 'a\\'",
        "b')",
    ]


def test_text_that_was_not_utf8_travels_unchanged() -> None:
    text = b"CREATE TABLE t (c char(1) DEFAULT '\xe9');".decode("utf-8", "surrogateescape")
    (statement,) = split_statements(text)
    assert statement.encode("utf-8", "surrogateescape").endswith(b"'\xe9')")
