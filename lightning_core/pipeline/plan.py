"""The plan of a task: which tables, from which files, in which chunks — no server involved."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lightning_core.interfaces import INDEX_ENGINE_ID, Chunk, Engine
from lightning_core.pipeline.progress import human_bytes
from lightning_core.source.chunks import split_chunks
from lightning_core.source.discovery import SourcePlan, TablePlan, discover
from lightning_core.sqltext import quote_identifier

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig


@attrs.frozen(kw_only=True)
class EnginePlan:
    """A data engine of a table and the chunks written into it."""

    engine: Engine
    chunks: tuple[Chunk, ...]


@attrs.frozen(kw_only=True)
class TableTask:
    """One target table, the chunks that fill it and the engines they go to."""

    plan: TablePlan
    chunks: tuple[Chunk, ...]
    engines: tuple[EnginePlan, ...] = ()
    """Data engines, in order; every chunk is in exactly one."""

    @property
    def name(self) -> str:
        """```schema`.`table``` of the target."""
        plan = self.plan
        return f"{quote_identifier(plan.target_schema)}.{quote_identifier(plan.target_table)}"

    @property
    def index_engine(self) -> Engine:
        """The table's index engine."""
        return Engine(self.name, INDEX_ENGINE_ID)

    def engine_of(self, chunk: Chunk) -> Engine:
        """The data engine a chunk of this table belongs to."""
        for plan in self.engines:
            if chunk in plan.chunks:
                return plan.engine
        raise KeyError(chunk.key)

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


def make_plan(config: LightningConfig, formats: Sequence[str] = ()) -> ImportPlan:
    """Discover, filter and route the data source, split its files into chunks and the chunks
    into engines.

    :param formats: data formats the installed readers read (beyond sql, csv, parquet).
    """
    source = discover(config.mydumper, config.routes, formats)
    sql_mode = config.tidb.sql_mode or ""
    tables = []
    for table in source.tables:
        if table.is_view:
            continue
        chunks = tuple(split_chunks(table, config.mydumper, sql_mode))
        task = TableTask(plan=table, chunks=chunks)
        ids = allocate_engine_ids(
            [chunk_size(c) for c in chunks],
            batch_size=int(config.mydumper.batch_size),
            ratio=float(config.mydumper.batch_import_ratio),
            table_concurrency=max(1, int(config.lightning.table_concurrency)),
        )
        engines = tuple(
            EnginePlan(
                engine=Engine(task.name, engine_id),
                chunks=tuple(c for c, i in zip(chunks, ids, strict=True) if i == engine_id),
            )
            for engine_id in sorted(set(ids))
        )
        tables.append(attrs.evolve(task, engines=engines))
    return ImportPlan(source=source, tables=tuple(tables))


def chunk_size(chunk: Chunk) -> int:
    """Bytes of the file on disk that a chunk stands for."""
    if chunk.file.compression is not None or chunk.file.format == "parquet":
        return chunk.file.size
    end = chunk.end if chunk.end is not None else chunk.file.size
    return max(0, end - chunk.offset)


def allocate_engine_ids(
    sizes: Sequence[int], *, batch_size: int, ratio: float, table_concurrency: int
) -> list[int]:
    """The data engine of each chunk (by size, in order), as TiDB Lightning allocates them.

    A table no larger than ``batch_size`` is one engine. A larger one gets ``n`` engines whose
    sizes shrink towards the end by ``ratio`` (``batch-import-ratio``), so that importing one
    engine overlaps with writing the next and the last ones, which wait for nothing, are small;
    ``n`` is at most ``table_concurrency`` and later engines are ``batch_size`` big.
    """
    total = sum(sizes)
    if total <= batch_size or batch_size <= 0:
        return [0] * len(sizes)
    if not 0 <= ratio < 1:
        ratio = 0.75
    wanted = total * (1 - ratio) / batch_size
    count = math.ceil(wanted)
    # the sizes follow a beta-like curve; inverse beta of (count, ratio) corrects the count
    inverse_beta = (
        math.exp(math.lgamma(count + ratio) - math.lgamma(count) - math.lgamma(ratio))
        if ratio > 0
        else 0.0
    )
    current = float(batch_size)
    while True:
        if count <= 0 or count > table_concurrency:
            count = table_concurrency
            break
        effective = count - inverse_beta
        if effective >= wanted:
            current = total * (1 - ratio) / effective
            break
        inverse_beta *= 1 + ratio / count
        count += 1
    ids = []
    engine = 0
    filled = 0
    for size in sizes:
        ids.append(engine)
        filled += size
        if filled >= current:
            filled = 0
            engine += 1
            current = batch_size if engine >= count else current * (ratio / (count - engine) + 1)
    return ids


def plan_as_dict(plan: ImportPlan, backend: str) -> dict[str, Any]:
    """The plan as plain data (for ``plan --json``)."""
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
                "engines": [
                    *(
                        {
                            "id": e.engine.id,
                            "uuid": str(e.engine.uuid),
                            "chunks": [c.key for c in e.chunks],
                        }
                        for e in t.engines
                    ),
                    {"id": t.index_engine.id, "uuid": str(t.index_engine.uuid), "index": True},
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
        f"{human_bytes(plan.total_bytes)}",
    ]
    for task in plan.tables:
        sources = ", ".join(f"{s}.{n}" for s, n in task.plan.sources)
        schema = "schema file" if task.plan.schema_file else "no schema file: must exist"
        lines.append(
            f"  {task.plan.target_schema}.{task.plan.target_table} <- {sources} "
            f"({len(task.plan.data_files)} files, {len(task.chunks)} chunks in "
            f"{len(task.engines)} data engines, {human_bytes(task.total_bytes)}; {schema})"
        )
        for f in task.plan.data_files:
            chunks = sum(1 for c in task.chunks if c.file.path == f.path)
            zipped = f" {f.compression}" if f.compression else ""
            size = human_bytes(f.size)
            lines.append(f"      {f.path} [{f.format}{zipped}, {size}, {chunks} chunks]")
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


def plan_json(plan: ImportPlan, backend: str) -> str:
    """``plan_as_dict`` as indented JSON."""
    return json.dumps(plan_as_dict(plan, backend), indent=2)
