"""Built-in source readers: SQL dumps, CSV and Parquet, registered like any plugin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightning_core._markers import hookimpl
from lightning_core.registry import SourceReaderRecord


def _sql_reader(**kwargs: Any) -> Any:
    from lightning_core.source.sql_reader import SqlReader

    return SqlReader(**kwargs)


def _csv_reader(**kwargs: Any) -> Any:
    from lightning_core.source.csv_reader import CsvReader

    return CsvReader(**kwargs)


def _parquet_reader(**kwargs: Any) -> Any:
    from lightning_core.source.parquet_reader import ParquetReader

    return ParquetReader(**kwargs)


@hookimpl
def lightning_register_source_readers() -> Iterable[SourceReaderRecord]:
    """The three readers of mydumper/dumpling output."""
    return [
        SourceReaderRecord(
            name="sql",
            formats=("sql",),
            raw_sql=True,
            factory=_sql_reader,
            description="INSERT/REPLACE statements of mydumper/dumpling .sql files",
        ),
        SourceReaderRecord(
            name="csv",
            formats=("csv",),
            factory=_csv_reader,
            description="CSV files shaped by [mydumper.csv]",
        ),
        SourceReaderRecord(
            name="parquet",
            formats=("parquet",),
            factory=_parquet_reader,
            description="Parquet files (pyarrow)",
        ),
    ]
