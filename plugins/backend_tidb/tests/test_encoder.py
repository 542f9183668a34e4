"""The SQL statement encoder: heads per strategy, column mapping, byte bounds, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning_backend_tidb.encoder import SqlStatementEncoder

from lightning_core import EncodeError, ReadPosition, RowBatch, TargetTable
from lightning_core.builtin.conflicts import VerbStrategy

TABLE = TargetTable(schema="db", name="t", columns=("id", "Name", "price"))
REPLACE = VerbStrategy("replace", "REPLACE INTO")


def batch(rows: list[tuple[object, ...]], columns: tuple[str, ...] | None = None) -> RowBatch:
    offsets = [10 * i for i in range(len(rows))]
    return RowBatch(
        columns=columns,
        rows=rows,
        offsets=offsets,  # type: ignore[arg-type]
        end=ReadPosition(offset=10 * len(rows)),
    )


def test_statement_names_target_columns_in_their_spelling() -> None:
    encoder = SqlStatementEncoder(TABLE, REPLACE)
    (statement,) = encoder.encode_batch(
        batch([(1, b"a'b", Decimal("1.50"))], ("ID", "name", "PRICE")), "f"
    )
    assert statement.sql == b"REPLACE INTO `db`.`t` (`id`,`Name`,`price`) VALUES (1,'a\\'b',1.50)"
    assert (statement.first, statement.count) == (0, 1)


@pytest.mark.parametrize(
    ("strategy", "head"),
    [
        (VerbStrategy("ignore", "INSERT IGNORE INTO"), b"INSERT IGNORE INTO"),
        (VerbStrategy("error", "INSERT INTO"), b"INSERT INTO"),
    ],
)
def test_strategy_gives_the_verb(strategy: VerbStrategy, head: bytes) -> None:
    (statement,) = SqlStatementEncoder(TABLE, strategy).encode_batch(batch([(1, None, 2)]), "f")
    assert statement.sql.startswith(head + b" `db`.`t` (`id`,`Name`,`price`) VALUES (1,NULL,2)")


def test_statements_are_bounded_by_bytes_and_cover_every_row() -> None:
    rows = [(i, b"x" * 50, i) for i in range(100)]
    statements = SqlStatementEncoder(TABLE, REPLACE, max_bytes=1000).encode_batch(batch(rows), "f")
    assert len(statements) > 5
    assert all(len(s.sql) <= 1000 for s in statements)
    assert [s.first for s in statements] == sorted(s.first for s in statements)
    assert sum(s.count for s in statements) == 100
    assert statements[-1].first + statements[-1].count == 100


def test_one_row_bigger_than_the_bound_still_goes_alone() -> None:
    rows = [(1, b"x" * 5000, 1), (2, b"y", 2)]
    statements = SqlStatementEncoder(TABLE, REPLACE, max_bytes=1000).encode_batch(batch(rows), "f")
    assert [s.count for s in statements] == [1, 1]


def test_no_backslash_escapes_doubles_quotes_only() -> None:
    encoder = SqlStatementEncoder(TABLE, REPLACE, no_backslash_escapes=True)
    (statement,) = encoder.encode_batch(batch([(1, b"a\\'b", 0)]), "f")
    assert statement.sql.endswith(b"(1,'a\\''b',0)")


def test_unknown_source_column_names_file_offset_and_table() -> None:
    encoder = SqlStatementEncoder(TABLE, REPLACE)
    with pytest.raises(EncodeError, match=r"dump\.sql:0: column 'colour' .* `db`\.`t`"):
        encoder.encode_batch(batch([(1, 2)], ("id", "colour")), "dump.sql")


def test_row_of_wrong_width_names_its_offset() -> None:
    encoder = SqlStatementEncoder(TABLE, REPLACE)
    with pytest.raises(EncodeError, match=r"f:10: row has 2 values but 3 columns"):
        encoder.encode_batch(batch([(1, b"a", 2), (1, b"b")]), "f")


def test_single_row_statement_for_locating_a_refused_row() -> None:
    encoder = SqlStatementEncoder(TABLE, REPLACE)
    rows = batch([(1, b"a", 1), (2, b"b", 2)])
    assert encoder.single_row(rows, 1, "f").endswith(b"VALUES (2,'b',2)")


def test_source_text_of_rows_is_sent_as_it_is() -> None:
    texts = [b"(1,'a\\nb',0x41)", b"(2,NULL,1.50)"]
    raw = RowBatch(
        columns=("id", "name", "price"),
        rows=[],
        offsets=[5, 20],
        texts=texts,
        end=ReadPosition(offset=35),
    )
    statements = SqlStatementEncoder(TABLE, REPLACE, max_bytes=60).encode_batch(raw, "f")
    assert [s.sql for s in statements] == [
        b"REPLACE INTO `db`.`t` (`id`,`Name`,`price`) VALUES (1,'a\\nb',0x41)",
        b"REPLACE INTO `db`.`t` (`id`,`Name`,`price`) VALUES (2,NULL,1.50)",
    ]
    assert SqlStatementEncoder(TABLE, REPLACE).single_row(raw, 1, "f").endswith(b"(2,NULL,1.50)")


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=2, max_value=300), min_size=1, max_size=60),
    rows_in_first=st.integers(min_value=0, max_value=60),
    slack=st.integers(min_value=-2, max_value=2),
)
def test_statements_take_rows_greedily_up_to_the_bound(
    sizes: list[int], rows_in_first: int, slack: int
) -> None:
    head = b"REPLACE INTO `db`.`t` (`id`,`Name`,`price`) VALUES "
    # a bound right at (or a byte around) the end of some row, where an off-by-one shows
    max_bytes = max(1, len(head) + sum(size + 1 for size in sizes[:rows_in_first]) + slack)
    texts = [b"(" + b"x" * (size - 2) + b")" for size in sizes]
    raw = RowBatch(
        columns=None,
        rows=[],
        offsets=list(range(len(texts))),
        texts=texts,
        end=ReadPosition(offset=len(texts)),
    )
    encoder = SqlStatementEncoder(TABLE, REPLACE, max_bytes=max_bytes)
    statements = encoder.encode_batch(raw, "f")
    # Greedy: a row joins the statement while head, rows and their commas stay in the bound.
    expected: list[tuple[int, int]] = []
    size = len(head)
    for index, text in enumerate(texts):
        if expected and expected[-1][1] and size + len(text) + 1 <= max_bytes:
            expected[-1] = (expected[-1][0], expected[-1][1] + 1)
            size += len(text) + 1
        else:
            expected.append((index, 1))
            size = len(head) + len(text) + 1
    assert [(s.first, s.count) for s in statements] == expected
    assert [s.sql for s in statements] == [
        head + b",".join(texts[first : first + count]) for first, count in expected
    ]
