"""The plan of a task: which tables, from which files, in which chunks — no server involved."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from lightning_core.interfaces import Chunk
from lightning_core.source.chunks import split_chunks
from lightning_core.source.discovery import SourcePlan, TablePlan, discover
from lightning_core.sqltext import quote_identifier


@attrs.frozen(kw_only=True)
class TableTask:
    """One target table and the chunks that fill it."""

    plan: TablePlan
    chunks: tuple[Chunk, ...]

    @property
    def name(self) -> str:
        """```schema`.`table``` of the target."""
        plan = self.plan
        return f"{quote_identifier(plan.target_schema)}.{quote_identifier(plan.target_table)}"

    @property
    def total_bytes(self) -> int:
        """Bytes of the table's data files."""
        return sum(f.size for f in self.plan.data_files)


@attrs.frozen(kw_only=True)
class ImportPlan:
    """Everything a run will do, derived from the configuration and the data source alone."""

    source: SourcePlan
    tables: tuple[TableTask, ...]

    @property
    def total_bytes(self) -> int:
        """Bytes of every data file."""
        return sum(t.total_bytes for t in self.tables)

    @property
    def data_files(self) -> list[Any]:
        """Every data file of the plan."""
        return [f for t in self.tables for f in t.plan.data_files]


def make_plan(config: Any, formats: Sequence[str] = ()) -> ImportPlan:
    """Discover, filter and route the data source, and split its files into chunks.

    :param formats: data formats the installed readers read (beyond sql, csv, parquet).
    """
    source = discover(config.mydumper, config.routes, formats)
    sql_mode = config.tidb.sql_mode or ""
    tables = tuple(
        TableTask(
            plan=table,
            chunks=tuple(split_chunks(table, config.mydumper, sql_mode)),
        )
        for table in source.tables
        if not table.is_view
    )
    return ImportPlan(source=source, tables=tables)


def plan_as_dict(plan: ImportPlan, backend: str) -> dict[str, Any]:
    """The plan as plain data (for ``--plan --json``)."""
    return {
        "data_source_dir": plan.source.data_source_dir,
        "backend": backend,
        "total_bytes": plan.total_bytes,
        "schemas": [name for name, _ in plan.source.schemas],
        "tables": [
            {
                "target": f"{t.plan.target_schema}.{t.plan.target_table}",
                "sources": [f"{s}.{n}" for s, n in t.plan.sources],
                "schema_file": t.plan.schema_file.path if t.plan.schema_file else None,
                "bytes": t.total_bytes,
                "files": [
                    {
                        "path": f.path,
                        "format": f.format,
                        "compression": f.compression,
                        "size": f.size,
                        "chunks": [
                            {"offset": c.offset, "end": c.end}
                            for c in t.chunks
                            if c.file.path == f.path
                        ],
                    }
                    for f in t.plan.data_files
                ],
            }
            for t in plan.tables
        ],
        "views": [f"{t.target_schema}.{t.target_table}" for t in plan.source.tables if t.is_view],
        "ignored": list(plan.source.ignored),
        "filtered": list(plan.source.filtered),
        "unmatched": list(plan.source.unmatched),
    }


def render_plan(plan: ImportPlan, backend: str) -> str:
    """The plan as text for a terminal."""
    lines = [
        f"data source: {plan.source.data_source_dir}",
        f"backend: {backend}",
        f"{len(plan.tables)} tables, {sum(len(t.chunks) for t in plan.tables)} chunks, "
        f"{_size(plan.total_bytes)}",
    ]
    for task in plan.tables:
        sources = ", ".join(f"{s}.{n}" for s, n in task.plan.sources)
        schema = "schema file" if task.plan.schema_file else "no schema file: must exist"
        lines.append(
            f"  {task.plan.target_schema}.{task.plan.target_table} <- {sources} "
            f"({len(task.plan.data_files)} files, {len(task.chunks)} chunks, "
            f"{_size(task.total_bytes)}; {schema})"
        )
        for f in task.plan.data_files:
            chunks = sum(1 for c in task.chunks if c.file.path == f.path)
            zipped = f" {f.compression}" if f.compression else ""
            lines.append(f"      {f.path} [{f.format}{zipped}, {_size(f.size)}, {chunks} chunks]")
    views = [t for t in plan.source.tables if t.is_view]
    for view in views:
        lines.append(f"  view {view.target_schema}.{view.target_table}")
    if plan.source.unmatched:
        lines.append(f"unmatched files ({len(plan.source.unmatched)}): no rule routes them")
        lines.extend(f"  {p}" for p in plan.source.unmatched)
    for label, paths in (
        ("excluded by [mydumper] filter", plan.source.filtered),
        ("ignored (known non-data files)", plan.source.ignored),
    ):
        if paths:
            lines.append(f"{label} ({len(paths)}):")
            lines.extend(f"  {p}" for p in paths)
    return "\n".join(lines)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def plan_json(plan: ImportPlan, backend: str) -> str:
    """``plan_as_dict`` as indented JSON."""
    return json.dumps(plan_as_dict(plan, backend), indent=2)
