"""The ImportKV gRPC service (kvproto's ``import_kvpb.ImportKV``) over :class:`ServerEngines`.

Statuses as tikv-importer gives them: a missing engine on WriteEngine, WriteEngineV3 and
CloseEngine is answered in-band (status OK, ``error.engine_not_found``); every other refusal is
status UNKNOWN with the error's name in the details (``FileExists(...)``, ``EngineInUse(...)``,
``InvalidChunk(...)``, ``Uuid(...)``, ``ResourceTemporarilyUnavailable(...)``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
from lightning_backend_local.kvproto import import_kvpb_pb2 as kvpb
from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lightning_backend_importer import __version__
from lightning_backend_importer.server.engines import (
    EngineError,
    EngineNotFound,
    ServerEngines,
    parse_uuid,
)
from lightning_core import LightningError

log = logging.getLogger(__name__)

#: What GetVersion says: the tikv-importer release whose protocol and behaviour this server
#: follows (clients check the major version), and which implementation it is.
PROTOCOL_VERSION = "5.0.6"
COMMIT = f"tidb-lightning-backend-importer {__version__}"


class ImporterMetrics:
    """The server's metrics, with tikv-importer's names, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rpc_duration = Histogram(
            "tikv_import_rpc_duration",
            "Seconds per ImportKV request",
            ["request", "result"],
            registry=self.registry,
        )
        self.write_chunk_bytes = Histogram(
            "tikv_import_write_chunk_bytes",
            "Key and value bytes per WriteEngine stream",
            buckets=[1 << n for n in range(10, 31, 2)],
            registry=self.registry,
        )
        self.write_pairs = Counter(
            "tikv_import_write_pairs", "KV pairs written to engines", registry=self.registry
        )
        self.ingest_duration = Histogram(
            "tikv_import_sst_ingest_duration",
            "Seconds per engine ingest",
            registry=self.registry,
        )
        self.open_engines = Gauge(
            "tikv_import_open_engines", "Engines open for writing", registry=self.registry
        )

    def text(self) -> str:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry).decode()


def _abort(context: grpc.ServicerContext, error: Exception) -> NoReturn:
    context.abort(grpc.StatusCode.UNKNOWN, str(error))
    raise AssertionError("unreachable: abort raises")


def _not_found(raw: bytes) -> kvpb.Error:
    return kvpb.Error(engine_not_found=kvpb.Error.EngineNotFound(uuid=raw))


class ImportKVService(kvpb_grpc.ImportKVServicer):  # type: ignore[misc]
    """ImportKV: engines under ``import-dir``, imported into the embedded store."""

    def __init__(
        self,
        engines: ServerEngines,
        metrics: ImporterMetrics,
        *,
        store_dir: str,
        import_jobs: int,
    ) -> None:
        self._engines = engines
        self._metrics = metrics
        self._store_dir = store_dir
        self._import_jobs = threading.BoundedSemaphore(import_jobs)

    @contextlib.contextmanager
    def _timed(self, request: str) -> Iterator[None]:
        started = time.monotonic()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self._metrics.rpc_duration.labels(request, result).observe(time.monotonic() - started)
            self._metrics.open_engines.set(self._engines.open_count)

    def SwitchMode(self, request: Any, context: grpc.ServicerContext) -> kvpb.SwitchModeResponse:
        """Import or normal mode on every store of the cluster; the embedded store has none."""
        with self._timed("switch_mode"):
            self._no_cluster(request.pd_addr, "SwitchMode", context)
            return kvpb.SwitchModeResponse()

    def OpenEngine(self, request: Any, context: grpc.ServicerContext) -> kvpb.OpenEngineResponse:
        """Open an engine for writing (``key_prefix`` is ignored, as by tikv-importer)."""
        with self._timed("open_engine"):
            try:
                key = parse_uuid(request.uuid)
                self._engines.open(key)
            except EngineError as exc:
                _abort(context, exc)
            log.debug("engine %s open", key)
            return kvpb.OpenEngineResponse()

    def WriteEngine(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> kvpb.WriteEngineResponse:
        """A head naming the engine, then batches of mutations; answered when the client has
        sent everything, once the pairs are durable."""
        with self._timed("write_engine"):
            head = next(request_iterator, None)
            if head is None or head.WhichOneof("chunk") != "head":
                _abort(context, EngineError("InvalidChunk", "the first message must be a head"))
            try:
                writer = self._engines.writer(parse_uuid(head.head.uuid))
            except EngineError as exc:
                _abort(context, exc)
            except EngineNotFound:
                return kvpb.WriteEngineResponse(error=_not_found(head.head.uuid))
            finished = False
            try:
                for message in request_iterator:
                    if message.WhichOneof("chunk") != "batch":
                        _abort(context, EngineError("InvalidChunk", "a second head"))
                    writer.add([(m.key, m.value) for m in message.batch.mutations])
                if not context.is_active():
                    # cancelled: the request stream can end as if the client had finished.
                    # gRPC may tell of the cancellation only after that end, and the stream is
                    # then kept: harmless, as the client's retry writes the same keys again
                    # and they collapse
                    return kvpb.WriteEngineResponse()
                writer.finish()
                finished = True
            finally:
                if not finished:
                    writer.abort()
            self._metrics.write_chunk_bytes.observe(writer.bytes)
            self._metrics.write_pairs.inc(writer.pairs)
            return kvpb.WriteEngineResponse()

    def WriteEngineV3(
        self, request: Any, context: grpc.ServicerContext
    ) -> kvpb.WriteEngineResponse:
        """One request with the uuid and the pairs."""
        with self._timed("write_engine_v3"):
            try:
                writer = self._engines.writer(parse_uuid(request.uuid))
            except EngineError as exc:
                _abort(context, exc)
            except EngineNotFound:
                return kvpb.WriteEngineResponse(error=_not_found(request.uuid))
            try:
                writer.add([(p.key, p.value) for p in request.pairs])
            except BaseException:
                writer.abort()
                raise
            writer.finish()
            self._metrics.write_pairs.inc(writer.pairs)
            return kvpb.WriteEngineResponse()

    def CloseEngine(self, request: Any, context: grpc.ServicerContext) -> kvpb.CloseEngineResponse:
        """Stop writing, merge the engine's runs and cut its ranges."""
        with self._timed("close_engine"):
            try:
                key = parse_uuid(request.uuid)
                self._engines.close(key)
            except EngineError as exc:
                _abort(context, exc)
            except EngineNotFound:
                return kvpb.CloseEngineResponse(error=_not_found(request.uuid))
            log.info("engine %s closed", key)
            return kvpb.CloseEngineResponse()

    def ImportEngine(
        self, request: Any, context: grpc.ServicerContext
    ) -> kvpb.ImportEngineResponse:
        """Ingest a closed engine: into the embedded store at ``[import] store-dir`` when the
        request names no PD address."""
        with self._timed("import_engine"):
            self._no_cluster(request.pd_addr, "ImportEngine", context)
            if not self._store_dir:
                _abort(
                    context,
                    EngineError(
                        "Engine",
                        "the request names no PD address and [import] store-dir is not set: "
                        "there is nothing to import into",
                    ),
                )
            with self._import_jobs:
                try:
                    key = parse_uuid(request.uuid)
                    started = time.monotonic()
                    files = self._engines.import_engine(key, self._ingest)
                except (EngineError, LightningError) as exc:
                    _abort(context, exc)
            self._metrics.ingest_duration.observe(time.monotonic() - started)
            log.info("engine %s imported: %d ranges", key, files)
            return kvpb.ImportEngineResponse()

    def _ingest(self, files: list[str]) -> None:
        from lightning_backend_local.store import EmbeddedStore

        store = EmbeddedStore.open(self._store_dir)
        try:
            store.ingest(files)
        finally:
            store.close()

    def CleanupEngine(
        self, request: Any, context: grpc.ServicerContext
    ) -> kvpb.CleanupEngineResponse:
        """Delete an engine's files."""
        with self._timed("cleanup_engine"):
            try:
                key = parse_uuid(request.uuid)
                self._engines.cleanup(key)
            except EngineError as exc:
                _abort(context, exc)
            return kvpb.CleanupEngineResponse()

    def CompactCluster(
        self, request: Any, context: grpc.ServicerContext
    ) -> kvpb.CompactClusterResponse:
        """Compact every store of the cluster; the embedded store needs none."""
        with self._timed("compact_cluster"):
            self._no_cluster(request.pd_addr, "CompactCluster", context)
            return kvpb.CompactClusterResponse()

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> kvpb.GetVersionResponse:
        """The tikv-importer version this server follows and this implementation's name."""
        with self._timed("get_version"):
            return kvpb.GetVersionResponse(version=PROTOCOL_VERSION, commit=COMMIT)

    def GetMetrics(self, request: Any, context: grpc.ServicerContext) -> kvpb.GetMetricsResponse:
        """The Prometheus text of the server's metrics."""
        with self._timed("get_metrics"):
            return kvpb.GetMetricsResponse(prometheus=self._metrics.text())

    @staticmethod
    def _no_cluster(pd_addr: str, method: str, context: grpc.ServicerContext) -> None:
        if pd_addr:
            _abort(
                context,
                EngineError(
                    "PdRPC",
                    f"{method} into the TiKV cluster at {pd_addr} is not implemented by this "
                    "tikv-importer yet; leave the PD address empty to use [import] store-dir",
                ),
            )
