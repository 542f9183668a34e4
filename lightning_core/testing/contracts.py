"""Contract suites: the behaviour every implementation of an interface must show.

Subclass a suite in a test module and provide its fixture; pytest then runs every test of the
suite against your implementation::

    class TestMyStore(CheckpointStoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: MyStore(tmp_path / "cp")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lightning_core.errors import LightningError
from lightning_core.interfaces import CheckpointStore, Chunk, ConflictStrategy, RowBatch, Value


class CheckpointStoreContract:
    """Stores keep records in order, across reopening, until reset.

    Fixture to provide: ``make_store`` — a callable returning a new store object over the same
    underlying storage each time it is called.
    """

    @pytest.fixture
    def make_store(self) -> Callable[[], CheckpointStore]:
        raise NotImplementedError("provide a make_store fixture")

    def test_new_store_is_empty(self, make_store: Callable[[], CheckpointStore]) -> None:
        store = make_store()
        assert store.read() == []
        assert isinstance(store.location, str) and store.location
        store.close()

    def test_records_come_back_in_order_after_reopening(
        self, make_store: Callable[[], CheckpointStore]
    ) -> None:
        store = make_store()
        records = [{"type": "task", "n": 1}, {"type": "chunk", "n": 2, "text": "é\n\"'"}]
        store.append(records[:1])
        store.append(records[1:])
        store.close()
        again = make_store()
        assert again.read() == records
        again.close()

    def test_reset_forgets_everything(self, make_store: Callable[[], CheckpointStore]) -> None:
        store = make_store()
        store.append([{"type": "task"}])
        store.reset()
        assert store.read() == []
        store.append([{"type": "task", "again": True}])
        assert store.read() == [{"type": "task", "again": True}]
        store.close()


class ConflictStrategyContract:
    """Strategies produce a statement head and tail and handle reported duplicates.

    Fixture to provide: ``strategy`` — the strategy object.
    """

    @pytest.fixture
    def strategy(self) -> ConflictStrategy:
        raise NotImplementedError("provide a strategy fixture")

    def test_verb_is_an_insert_or_replace_head(self, strategy: ConflictStrategy) -> None:
        verb = strategy.insert_verb().upper()
        assert verb.startswith(("INSERT", "REPLACE")) and verb.endswith("INTO")
        assert isinstance(strategy.name, str) and strategy.name

    def test_tail_is_text(self, strategy: ConflictStrategy) -> None:
        tail = strategy.statement_tail(("`a`", "`b`"))
        assert isinstance(tail, str)
        assert ";" not in tail

    def test_duplicate_error_raises_a_lightning_error_or_returns(
        self, strategy: ConflictStrategy
    ) -> None:
        try:
            strategy.on_duplicate_error("`db`.`t`", "'1' for key 'PRIMARY'", "f.sql:10")
        except LightningError as exc:
            assert "f.sql:10" in str(exc)


class SourceReaderContract:
    """Readers yield every row once, with offsets, and resume exactly from any batch end.

    Fixtures to provide: ``make_reader`` — ``(chunk, start) -> SourceReader``; ``sample`` —
    a ``(chunk, expected_rows)`` pair for a file holding several batches' worth of rows.
    """

    @pytest.fixture
    def make_reader(self) -> Callable[..., Any]:
        raise NotImplementedError("provide a make_reader fixture")

    @pytest.fixture
    def sample(self) -> tuple[Chunk, list[tuple[Value, ...]]]:
        raise NotImplementedError("provide a sample fixture")

    @staticmethod
    def _read(make_reader: Callable[..., Any], chunk: Chunk, start: Any = None) -> list[RowBatch]:
        reader = make_reader(chunk, start)
        try:
            return list(reader.batches())
        finally:
            reader.close()

    def test_reads_every_row_in_order(
        self, make_reader: Callable[..., Any], sample: tuple[Chunk, list[tuple[Value, ...]]]
    ) -> None:
        chunk, expected = sample
        batches = self._read(make_reader, chunk)
        assert [tuple(r) for b in batches for r in b.rows] == [tuple(r) for r in expected]
        for batch in batches:
            assert len(batch.offsets) == len(batch.rows)
            assert batch.offsets == sorted(batch.offsets)

    def test_resumes_exactly_from_every_batch_end(
        self, make_reader: Callable[..., Any], sample: tuple[Chunk, list[tuple[Value, ...]]]
    ) -> None:
        chunk, expected = sample
        batches = self._read(make_reader, chunk)
        assert len(batches) >= 2, "the sample must hold more than one batch"
        seen = 0
        for batch in batches[:-1]:
            seen += len(batch.rows)
            assert batch.end.rows == seen
            rest = self._read(make_reader, chunk, batch.end)
            assert [tuple(r) for b in rest for r in b.rows] == [tuple(r) for r in expected[seen:]]
