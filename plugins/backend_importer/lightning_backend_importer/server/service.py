"""The ImportKV gRPC service (kvproto's ``import_kvpb.ImportKV``) over :class:`ServerEngines`.

ImportEngine and SwitchMode with a PD address go into that TiKV cluster through the local
backend's PD and ImportSST clients (split, scatter, write, ingest per range, each range recorded
in the engine directory as it is ingested, so a retried ImportEngine ingests only the rest); the
stores stay in import mode while any engine is being imported into them. Without a PD address,
ImportEngine fills the embedded store of ``[import] store-dir``.

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
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from lightning_backend_local.kvproto import import_kvpb_pb2 as kvpb
from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc
from lightning_backend_local.kvproto import import_sstpb_pb2 as sstpb
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lightning_backend_importer import __version__
from lightning_backend_importer.server.engines import (
    EngineError,
    EngineNotFound,
    ServerEngines,
    parse_uuid,
)
from lightning_core import LightningError

if TYPE_CHECKING:
    from lightning_backend_local.tikv.connect import ClusterIngest

    from lightning_core.config_sections import SecurityConfig

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


#: Seconds between two refreshes of a cluster's import mode (TiKV leaves it after ten minutes
#: without one).
IMPORT_MODE_REFRESH = 60.0


class Clusters:
    """The TiKV clusters that ImportEngine requests name: each opened for its first engine and
    closed — its stores switched back to normal mode — when its last engine is imported."""

    def __init__(self, security: SecurityConfig, *, range_jobs: int, upload_limit: int) -> None:
        self._security = security
        self._range_jobs = range_jobs
        self._upload_limit = upload_limit
        self._lock = threading.Lock()
        self._open: dict[str, tuple[ClusterIngest, int]] = {}

    @contextlib.contextmanager
    def ingest(self, pd_addr: str) -> Iterator[Callable[[list[str]], None]]:
        """What ingests one engine's range files into the cluster of ``pd_addr``."""
        from lightning_backend_local.tikv.connect import ClusterIngest, connect_cluster
        from lightning_backend_local.tikv.importer import ImportTuning

        with self._lock:
            cluster, users = self._open.get(pd_addr, (None, 0))
            if cluster is None:
                cluster = ClusterIngest(
                    connect_cluster(pd_addr, self._security, self._upload_limit),
                    ImportTuning(range_concurrency=self._range_jobs),
                    IMPORT_MODE_REFRESH,
                )
            self._open[pd_addr] = (cluster, users + 1)
        try:
            yield cluster.ingest
        finally:
            with self._lock:
                _, users = self._open[pd_addr]
                if users == 1:
                    del self._open[pd_addr]
                else:
                    self._open[pd_addr] = (cluster, users - 1)
            if users == 1:
                cluster.close()

    def switch_mode(self, pd_addr: str, mode: str) -> None:
        """Switch every store of the cluster of ``pd_addr`` to ``mode``."""
        from lightning_backend_local.tikv.connect import connect_cluster
        from lightning_backend_local.tikv.mode import switch_stores

        cluster = connect_cluster(pd_addr, self._security, self._upload_limit)
        try:
            switch_stores(cluster, mode)
        finally:
            cluster.close()


class ImportKVService(kvpb_grpc.ImportKVServicer):  # type: ignore[misc]
    """ImportKV: engines under ``import-dir``, imported into a TiKV cluster or the embedded
    store."""

    def __init__(
        self,
        engines: ServerEngines,
        metrics: ImporterMetrics,
        clusters: Clusters,
        *,
        store_dir: str,
        import_jobs: int,
    ) -> None:
        self._engines = engines
        self._metrics = metrics
        self._clusters = clusters
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
            if request.pd_addr:
                mode = "import" if request.request.mode == sstpb.Import else "normal"
                try:
                    self._clusters.switch_mode(request.pd_addr, mode)
                except (LightningError, grpc.RpcError) as exc:
                    _abort(context, EngineError("PdRPC", _describe(exc)))
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
        """Ingest a closed engine into the cluster of the request's PD address or, with none,
        into the embedded store at ``[import] store-dir``."""
        with self._timed("import_engine"):
            if not request.pd_addr and not self._store_dir:
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
                    if request.pd_addr:
                        with self._clusters.ingest(request.pd_addr) as ingest:
                            files = self._engines.import_engine(key, ingest)
                    else:
                        files = self._engines.import_engine(key, self._ingest)
                except (EngineError, LightningError) as exc:
                    _abort(context, exc)
                except grpc.RpcError as exc:
                    _abort(context, EngineError("PdRPC", _describe(exc)))
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
        """Compact every store of the cluster: refused for a cluster; the embedded store needs
        none."""
        with self._timed("compact_cluster"):
            if request.pd_addr:
                _abort(
                    context,
                    EngineError(
                        "PdRPC",
                        f"CompactCluster of the TiKV cluster at {request.pd_addr} is not "
                        "implemented by this tikv-importer; TiKV compacts by itself",
                    ),
                )
            return kvpb.CompactClusterResponse()

    def GetVersion(self, request: Any, context: grpc.ServicerContext) -> kvpb.GetVersionResponse:
        """The tikv-importer version this server follows and this implementation's name."""
        with self._timed("get_version"):
            return kvpb.GetVersionResponse(version=PROTOCOL_VERSION, commit=COMMIT)

    def GetMetrics(self, request: Any, context: grpc.ServicerContext) -> kvpb.GetMetricsResponse:
        """The Prometheus text of the server's metrics."""
        with self._timed("get_metrics"):
            return kvpb.GetMetricsResponse(prometheus=self._metrics.text())


def _describe(exc: Exception) -> str:
    if isinstance(exc, grpc.RpcError):
        return f"the TiKV cluster did not answer: {exc.code()} {exc.details()}"
    return str(exc)
