"""An ImportKV client: the calls TiDB Lightning's importer backend makes to tikv-importer, with
kvproto's messages (raw 16-byte UUIDs, raw keys), so it works against the Rust tikv-importer as
well as against ours.

Retries: UNAVAILABLE and DEADLINE_EXCEEDED (the server is down or restarting), RESOURCE_EXHAUSTED
(more calls at once than it serves) and "Too many open engines" are retried with back-off;
every other failure is one :class:`TargetError` line.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lightning_core import ConfigError, LightningConfig, TargetError

if TYPE_CHECKING:
    import grpc

    from lightning_core.config import SecurityConfig

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Key and value bytes per WriteBatch message of a stream.
WRITE_BATCH_BYTES = 1 << 20
#: tikv-importer major versions that speak this protocol (WriteEngine streams since 2.1).
SUPPORTED_MAJOR_VERSIONS = (2, 3, 4, 5)
#: Seconds a quick RPC (open, cleanup, version) may take.
QUICK_TIMEOUT = 60.0
FIRST_DELAY = 0.2
MAX_DELAY = 5.0
#: Seconds to wait for an engine slot while the server has ``max-open-engines`` open.
BUSY_SECONDS = 600.0


class EngineClosedError(TargetError):
    """tikv-importer holds the engine closed already."""


def compose_ts(physical_ms: int, logical: int = 0) -> int:
    """A TiDB timestamp (``physical << 18 | logical``), as PD's TSO gives them."""
    return (physical_ms << 18) | logical


class ImportKVClient:
    """One channel to one tikv-importer; safe to use from several threads."""

    def __init__(self, config: LightningConfig, *, retry_seconds: float) -> None:
        import grpc
        from lightning_backend_local.kvproto import import_kvpb_pb2 as kvpb
        from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc

        address = config.tikv_importer.addr
        if not address:
            raise ConfigError(
                "[tikv-importer] addr is empty: the importer backend writes to a tikv-importer "
                "there; set it (or --importer) to its host:port"
            )
        self.address = address
        self._grpc = grpc
        self._kvpb = kvpb
        self._retry_seconds = retry_seconds
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        security = config.security
        if security.ca_path:
            self._channel = grpc.secure_channel(
                address, _channel_credentials(security), options=options
            )
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stub = kvpb_grpc.ImportKVStub(self._channel)

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    # --- calls ---------------------------------------------------------------------------------

    def check_version(self) -> str:
        """The server's version; an unknown major version is refused."""
        reply = self._call(
            "GetVersion",
            lambda: self._stub.GetVersion(self._kvpb.GetVersionRequest(), timeout=QUICK_TIMEOUT),
        )
        version = str(reply.version)
        major = version.lstrip("v").split(".", 1)[0]
        if not major.isdigit() or int(major) not in SUPPORTED_MAJOR_VERSIONS:
            raise TargetError(
                f"tikv-importer at {self.address} is version {version!r}; this tidb-lightning "
                "speaks the ImportKV protocol of tikv-importer 2.x to 5.x: run one of those"
            )
        return f"{version} ({reply.commit})" if reply.commit else version

    def open_engine(self, key: uuid.UUID) -> None:
        """Open an engine for writing.

        :raises EngineClosedError: the server has it closed already.
        """
        request = self._kvpb.OpenEngineRequest(uuid=key.bytes)
        try:
            self._call(
                f"OpenEngine {key}",
                lambda: self._stub.OpenEngine(request, timeout=QUICK_TIMEOUT),
                busy_seconds=BUSY_SECONDS,
            )
        except TargetError as exc:
            if "FileExists" not in str(exc):
                raise
            raise EngineClosedError(str(exc)) from exc

    def write(self, key: uuid.UUID, pairs: Sequence[tuple[bytes, bytes]], commit_ts: int) -> bool:
        """Stream ``pairs`` into an engine: a head, then batches of at most
        ``WRITE_BATCH_BYTES``; True once the server answered, False when it does not have the
        engine open (in-band EngineNotFound)."""
        reply = self._call(
            f"WriteEngine {key}",
            lambda: self._stub.WriteEngine(self._stream(key, pairs, commit_ts)),
        )
        return not reply.HasField("error")

    def _stream(
        self, key: uuid.UUID, pairs: Sequence[tuple[bytes, bytes]], commit_ts: int
    ) -> Iterator[Any]:
        kvpb = self._kvpb
        yield kvpb.WriteEngineRequest(head=kvpb.WriteHead(uuid=key.bytes))
        start = 0
        while start < len(pairs):
            batch = kvpb.WriteBatch(commit_ts=commit_ts)
            add = batch.mutations.add
            size = 0
            end = start
            while end < len(pairs) and (size < WRITE_BATCH_BYTES or end == start):
                k, v = pairs[end]
                add(key=k, value=v)
                size += len(k) + len(v)
                end += 1
            yield kvpb.WriteEngineRequest(batch=batch)
            start = end

    def close_engine(self, key: uuid.UUID) -> bool:
        """Close an engine; True when it is closed (now or before), False when the server
        does not have it open."""
        request = self._kvpb.CloseEngineRequest(uuid=key.bytes)
        try:
            reply = self._call(f"CloseEngine {key}", lambda: self._stub.CloseEngine(request))
        except TargetError as exc:
            if "FileExists" in str(exc):
                return True  # closed by an earlier run
            raise
        return not reply.HasField("error")

    def import_engine(self, key: uuid.UUID, pd_addr: str) -> None:
        """Ingest a closed engine; returns once all of it is in the target."""
        request = self._kvpb.ImportEngineRequest(uuid=key.bytes, pd_addr=pd_addr)
        self._call(f"ImportEngine {key}", lambda: self._stub.ImportEngine(request))

    def cleanup_engine(self, key: uuid.UUID) -> None:
        """Delete what the server keeps of an engine."""
        request = self._kvpb.CleanupEngineRequest(uuid=key.bytes)
        self._call(
            f"CleanupEngine {key}", lambda: self._stub.CleanupEngine(request, timeout=QUICK_TIMEOUT)
        )

    # --- retries -------------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[], T], *, busy_seconds: float = 0.0) -> T:
        grpc = self._grpc
        # down or restarting, or more calls at once than it serves
        retryable = (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
        started = time.monotonic()
        delay = FIRST_DELAY
        while True:
            try:
                return call()
            except grpc.RpcError as exc:
                code, details = exc.code(), exc.details() or ""
                busy = code == grpc.StatusCode.UNKNOWN and "ResourceTemporarilyUnavailable" in (
                    details
                )
                patience = busy_seconds if busy else self._retry_seconds
                waited = time.monotonic() - started
                if not (busy or code in retryable) or waited + delay > patience:
                    raise self._failure(what, code, details, waited) from exc
                log.warning(
                    "tikv-importer at %s: %s: %s (%s); trying again in %.1f s",
                    self.address,
                    what,
                    code.name,
                    details,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)

    def _failure(
        self, what: str, code: grpc.StatusCode, details: str, waited: float
    ) -> TargetError:
        grpc = self._grpc
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return TargetError(
                f"tikv-importer at {self.address} did not answer {what} for {waited:.0f} s "
                f"({code.name}: {details}); start it ([tikv-importer] addr / --importer names "
                "it) and run again to resume"
            )
        return TargetError(f"tikv-importer at {self.address} refused {what}: {details}")


def _channel_credentials(security: SecurityConfig) -> grpc.ChannelCredentials:
    import grpc

    def read(path: str) -> bytes | None:
        if not path:
            return None
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as exc:
            raise ConfigError(f"[security] cannot read {path}: {exc.strerror}") from exc

    return grpc.ssl_channel_credentials(
        root_certificates=read(security.ca_path),
        private_key=read(security.key_path),
        certificate_chain=read(security.cert_path),
    )
