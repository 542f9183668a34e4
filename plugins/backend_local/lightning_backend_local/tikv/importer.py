"""Import an engine's ranges into a TiKV cluster: one :class:`RangeJob` per range, driven by
``range-concurrency`` threads, each range recorded as ingested as soon as it is.

Per engine, ``cluster-import.json`` in the engine directory (rewritten atomically) holds the
cluster ID, the commit timestamp the engine's pairs are written with, each range's keys and
count, and the ranges ingested so far. A resume ingests only the others, with the same
timestamp: whatever a killed run ingested of a range it had not recorded is written again
identically, which TiKV takes as the same versions."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import attrs
import grpc

from lightning_backend_local.sst import write_json
from lightning_backend_local.tikv.cluster import Cluster, StoreError
from lightning_backend_local.tikv.job import (
    ErrorKind,
    JobState,
    RangeJob,
    RegionError,
    Written,
)
from lightning_backend_local.tikv.pairs import EngineReader
from lightning_backend_local.tikv.pd import PDError
from lightning_backend_local.tikv.regions import KeyRange, split_keys
from lightning_core import TargetError, encode_bytes, failpoint

log = logging.getLogger(__name__)

PROGRESS_FILE = "cluster-import.json"
#: The smallest Write batch: Python's gRPC moves about 150 MB/s in 16 KiB messages and over
#: 500 MB/s from 128 KiB up.
MIN_BATCH_BYTES = 256 << 10


@attrs.frozen(kw_only=True)
class ImportTuning:
    """How the jobs run; from ``[tikv-importer]`` (the waits are shortened by tests)."""

    range_concurrency: int = 16
    """Ranges imported at once."""
    batch_bytes: int = MIN_BATCH_BYTES
    """Bytes of pairs per Write batch."""
    max_retries: int = 30
    """Retries of a range without progress before the import stops."""
    backoff: float = 0.1
    """Seconds before the first retry; doubled on each, up to ``max_backoff``."""
    max_backoff: float = 3.0
    """The longest wait between retries."""
    scatter_wait: float = 60.0
    """Seconds to wait for scatter operators before writing anyway."""


class _Stopped(Exception):
    """Another range failed: this one stops between two steps."""


@attrs.frozen
class _RangePlan:
    name: str
    keys: KeyRange
    kvs: int


class ClusterImporter:
    """Imports engines' ranges into one cluster."""

    def __init__(
        self,
        cluster: Cluster,
        tuning: ImportTuning,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._cluster = cluster
        self._tuning = tuning
        self._sleep = sleep

    def import_files(self, paths: Sequence[str]) -> None:
        """Import the range files ``paths`` of one engine (``<engine>/ranges/*.sst``)."""
        if not paths:
            return
        engine_dir = Path(paths[0]).parent.parent
        with EngineReader(paths) as reader:
            progress = self._progress(engine_dir, reader)
            done = set(progress["ingested"])
            plans = [
                _RangePlan(r["name"], KeyRange(bytes.fromhex(r["start"]), bytes.fromhex(r["end"])),
                           r["kvs"])
                for r in progress["ranges"]
                if r["name"] not in done
            ]  # fmt: skip
            if plans:
                log.info(
                    "engine %s: %d of %d ranges to ingest into the cluster",
                    engine_dir.name, len(plans), len(progress["ranges"]),
                )  # fmt: skip
                self._import_plans(engine_dir, progress, plans, reader)

    def _import_plans(
        self,
        engine_dir: Path,
        progress: dict[str, Any],
        plans: list[_RangePlan],
        reader: EngineReader,
    ) -> None:
        lock = threading.Lock()
        stop = threading.Event()
        commit_ts = int(progress["commit_ts"])
        # an engine of one range is smaller than a region: splitting it would only make small
        # regions (TiKV splits a region that grows by itself), as Lightning's needSplit says
        split = len(progress["ranges"]) > 1

        def run(plan: _RangePlan) -> None:
            self._import_range(plan, reader, commit_ts, stop, split=split)
            with lock:
                progress["ingested"].append(plan.name)
                write_json(engine_dir / PROGRESS_FILE, progress)
            failpoint("local:range-ingested")

        workers = max(1, min(self._tuning.range_concurrency, len(plans)))
        with ThreadPoolExecutor(workers, thread_name_prefix="range") as pool:
            futures = [pool.submit(run, plan) for plan in plans]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in finished if f.exception() is not None), None)
            if failed is not None:
                stop.set()
                wait(futures)
                error = failed.exception()
                assert error is not None
                raise error

    def _progress(self, engine_dir: Path, reader: EngineReader) -> dict[str, Any]:
        """The engine's progress record, made on the first import (keys and counts of every
        range, a commit timestamp) and checked against the cluster on a resume."""
        path = engine_dir / PROGRESS_FILE
        cluster_id = self._cluster.pd.cluster_id
        if path.exists():
            progress: dict[str, Any] = json.loads(path.read_text())
            if progress["cluster_id"] != cluster_id:
                raise TargetError(
                    f"engine {engine_dir.name} was partly imported into cluster "
                    f"{progress['cluster_id']}, but PD now answers for cluster {cluster_id}; "
                    "point [tidb] pd-addr at that cluster, or remove the checkpoint to start over"
                )
            return progress
        files = reader.ranges
        ranges = []
        for i, file in enumerate(files):
            # a range reaches the next one's first key, so splits leave no empty region between
            end = files[i + 1].first if i + 1 < len(files) else file.last + b"\x00"
            ranges.append(
                {"name": file.name, "start": file.first.hex(), "end": end.hex(), "kvs": file.kvs}
            )
        progress = {
            "cluster_id": cluster_id,
            "commit_ts": self._cluster.pd.tso(),
            "ranges": ranges,
            "ingested": [],
        }
        write_json(path, progress)
        return progress

    # --- one range ----------------------------------------------------------------------------

    def _import_range(
        self,
        plan: _RangePlan,
        reader: EngineReader,
        commit_ts: int,
        stop: threading.Event,
        *,
        split: bool,
    ) -> None:
        job = RangeJob(plan.keys, plan.kvs, max_attempts=self._tuning.max_retries)
        if not split:
            job.on_split(())
        while job.state is not JobState.DONE:
            if stop.is_set():
                raise _Stopped
            retries = job.retries
            wait_ms = self._step(job, reader, commit_ts)
            if job.retries > retries:
                log.debug("range %s: retry %d: %s", plan.name, job.retries, job.last_error)
                self._sleep(max(wait_ms / 1000, self._delay(job.retries)))
        failpoint("local:range-done")

    def _delay(self, retries: int) -> float:
        return float(min(self._tuning.backoff * 2 ** (retries - 1), self._tuning.max_backoff))

    def _step(self, job: RangeJob, reader: EngineReader, commit_ts: int) -> int:
        """Run the call of the job's state and report its outcome; milliseconds the cluster
        asked to wait before the next call."""
        state = job.state
        try:
            if state is JobState.SPLIT:
                self._split(job)
            elif state is JobState.SCATTER:
                self._scatter(job)
            elif state is JobState.WAIT_SCATTER:
                self._wait_scatter(job)
            elif state is JobState.LOCATE:
                head = job.head.range
                job.on_located(
                    self._cluster.pd.scan_regions(encode_bytes(head.start), encode_bytes(head.end))
                )
            elif state is JobState.WRITE:
                self._write(job, reader, commit_ts)
            elif state is JobState.INGEST:
                return self._ingest(job)
        except (grpc.RpcError, StoreError) as exc:
            why = f"{exc.code()} {exc.details()}" if isinstance(exc, grpc.RpcError) else str(exc)
            if state is JobState.INGEST:
                job.on_ingest_lost(why)
            elif state is JobState.WRITE:
                job.on_write_failed(why)
            elif state is JobState.SPLIT:
                job.on_split_failed(why)
            else:
                raise TargetError(f"range {job.range.describe()}: {state.value}: {why}") from exc
        return 0

    def _split(self, job: RangeJob) -> None:
        keys = job.range
        regions = self._cluster.pd.scan_regions(encode_bytes(keys.start), encode_bytes(keys.end))
        wanted = split_keys([keys.start, keys.end], regions)
        made: list[int] = []
        for region in regions:
            if region.id not in wanted:
                continue
            found = self._cluster.split(region, wanted[region.id])
            if isinstance(found, RegionError):
                job.on_split_failed(f"split {region.describe()}: {found.describe()}")
                return
            made.extend(r.id for r in found)
        failpoint("local:range-split")
        job.on_split(tuple(made))

    def _scatter(self, job: RangeJob) -> None:
        try:
            self._cluster.pd.scatter(job.scattered)
        except PDError as exc:  # a region that stays where it is is slower, not wrong
            log.warning("range %s: %s; writing without scattering", job.range.describe(), exc)
        job.on_scattered()

    def _wait_scatter(self, job: RangeJob) -> None:
        deadline = time.monotonic() + self._tuning.scatter_wait
        waiting = list(job.scattered)
        for attempt in itertools.count():
            waiting = [r for r in waiting if self._cluster.pd.scattering(r)]
            if not waiting:
                break
            if time.monotonic() >= deadline:
                log.warning(
                    "range %s: regions %s still scattering after %.0f s; writing anyway",
                    job.range.describe(), waiting, self._tuning.scatter_wait,
                )  # fmt: skip
                break
            self._sleep(self._delay(attempt + 1))
        job.on_scatter_finished()

    def _write(self, job: RangeJob, reader: EngineReader, commit_ts: int) -> None:
        piece = job.head
        region = piece.region
        assert region is not None
        last = reader.last_key(piece.range)
        if last is None:
            job.on_written(Written(metas=(), stores=frozenset(), kvs=0))
            return
        pairs = reader.pairs(piece.range)
        first = next(pairs)
        outcome = self._cluster.write(
            region,
            first[0],
            last,
            itertools.chain([first], pairs),
            commit_ts=commit_ts,
            batch_bytes=self._tuning.batch_bytes,
        )
        failpoint("local:range-written")
        if isinstance(outcome, str):
            job.on_write_failed(outcome)
        else:
            job.on_written(outcome)

    def _ingest(self, job: RangeJob) -> int:
        piece = job.head
        assert piece.region is not None and piece.written is not None
        error = self._cluster.ingest(piece.region, piece.written.metas)
        if error is None:
            job.on_ingested()
            return 0
        job.on_ingest_failed(error)
        return error.backoff_ms if error.kind is ErrorKind.SERVER_IS_BUSY else 0
