"""A chunk's rows as KV pairs, for the backends that write engines (``local``, and
``importer`` on top of it): its batches encoded and split into record and index pairs, with
the progress they carry."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable

from lightning_core import (
    Chunk,
    ChunkProgress,
    Encoder,
    KVChecksum,
    LightningConfig,
    PluginError,
    RowBatch,
    TableKVEncoder,
    TargetTable,
)

Pairs = list[tuple[bytes, bytes]]

#: Byte 10 of a record key (``t`` + 8-byte table ID + ``_r``) is ``r``; index keys have ``i``.
_RECORD_MARK = ord("r")


def chunk_pairs(
    factory: Callable[..., Encoder[object]],
    config: LightningConfig,
    table: TargetTable,
    chunk: Chunk,
    start: ChunkProgress | None,
    *,
    backend: str,
) -> ChunkPairs:
    """The pairs of ``chunk``, from ``start`` on, encoded with the session's SQL mode and time
    zone, the chunk's row-ID base, and the data file's modification time as "now", so that a
    resumed chunk encodes the same pairs again."""
    if table.model is None:
        raise PluginError(f"no table model for {table.quoted}: the target did not give one")
    tidb = config.tidb
    encoder = factory(
        table=table.model,
        sql_mode=tidb.sql_mode or "",
        time_zone=str(tidb.session_vars.get("time_zone", "UTC")),
        auto_id_base=chunk.row_id_base,
        now=datetime.datetime.fromtimestamp(
            os.stat(chunk.file.path).st_mtime, tz=datetime.UTC
        ).replace(tzinfo=None),
    )
    if not isinstance(encoder, TableKVEncoder):
        raise PluginError(
            f"the {backend} backend encodes with a KV encoder, not {type(encoder).__name__}"
        )
    return ChunkPairs(
        encoder=encoder,
        chunk=chunk,
        start=start,
        per_row=1 + len(table.model.stored_indexes),
        backend=backend,
    )


class ChunkPairs:
    """Encodes a chunk's batches and keeps the progress of what was encoded until the writer
    takes it, once the pairs are durable."""

    def __init__(
        self,
        *,
        encoder: TableKVEncoder,
        chunk: Chunk,
        start: ChunkProgress | None,
        per_row: int,
        backend: str,
    ) -> None:
        """:param per_row: pairs per row: the record and one per stored index."""
        self._encoder = encoder
        self._path = chunk.file.path
        self._per_row = per_row
        self._backend = backend
        self._checksum = start.checksum.copy() if start is not None else KVChecksum()
        self._max_row_id = start.max_row_id if start is not None else 0
        self.pending: ChunkProgress | None = None
        """The progress of everything encoded, until :meth:`take`."""

    def encode(self, batch: RowBatch, *, source_bytes: int) -> tuple[Pairs, list[Pairs]]:
        """The batch's record pairs and, for each stored index, its index pairs (in row
        order); the progress they carry becomes :attr:`pending`."""
        pairs, checksum = self._encoder.encode_batch(batch, self._path)
        per_row = self._per_row
        if len(pairs) != batch.count * per_row:
            raise PluginError(
                f"the encoder gave {len(pairs)} pairs for {batch.count} rows of {self._path}; "
                f"the {self._backend} backend expects {per_row} per row"
            )
        # the encoder gives each row's record first, then one pair per stored index
        if pairs and pairs[0][0][10] != _RECORD_MARK:
            raise PluginError(f"the encoder's first pair for {self._path} is not a record")
        self._checksum.add(checksum)
        self._max_row_id = max(self._max_row_id, self._encoder.max_row_id)
        self.pending = ChunkProgress(
            position=batch.end,
            bytes=source_bytes,
            checksum=self._checksum.copy(),
            max_row_id=self._max_row_id,
        )
        return pairs[::per_row], [pairs[index::per_row] for index in range(1, per_row)]

    def take(self) -> ChunkProgress | None:
        """The pending progress (None when nothing was encoded since the last take)."""
        progress, self.pending = self.pending, None
        return progress
