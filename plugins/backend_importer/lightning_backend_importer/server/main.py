"""The ``tikv-importer`` command: tikv-importer's flags and configuration file, the ImportKV
server and the status server, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import attrs
import grpc
from lightning_backend_local.engine import RangeLimits
from lightning_backend_local.kvproto import import_kvpb_pb2_grpc as kvpb_grpc

from lightning_backend_importer.server.config import LOG_LEVELS, ImporterConfig, load_config
from lightning_backend_importer.server.engines import ServerEngines
from lightning_backend_importer.server.service import (
    COMMIT,
    PROTOCOL_VERSION,
    Clusters,
    ImporterMetrics,
    ImportKVService,
)
from lightning_backend_importer.server.status import StatusServer
from lightning_core import ConfigError, LightningError
from lightning_core.config_sections import SecurityConfig

log = logging.getLogger("tikv_importer")

_LOGGING_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "off": logging.CRITICAL + 1,
}
#: Seconds running RPCs get to finish at shutdown.
SHUTDOWN_GRACE = 5.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """tikv-importer's flags."""
    parser = argparse.ArgumentParser(
        prog="tikv-importer",
        description="tikv-importer: the ImportKV service for tidb-lightning's importer backend",
        allow_abbrev=False,
    )
    parser.add_argument("-C", "--config", metavar="FILE", help="tikv-importer.toml")
    parser.add_argument("-A", "--addr", metavar="IP:PORT", help="gRPC listen address")
    parser.add_argument("--import-dir", metavar="PATH", help="where engines are kept")
    parser.add_argument("--log-file", metavar="FILE", help="log file (default: stderr)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="log level")
    parser.add_argument("--status-server", metavar="IP:PORT", help="HTTP status address")
    parser.add_argument("-V", "--version", action="version", version=_version_line())
    return parser.parse_args(argv)


def _version_line() -> str:
    return f"tikv-importer {PROTOCOL_VERSION} ({COMMIT})"


def configure(args: argparse.Namespace) -> ImporterConfig:
    """The file's configuration with the flags on top."""
    config = load_config(args.config)
    top: dict[str, Any] = {}
    if args.log_file is not None:
        top["log_file"] = args.log_file
    if args.log_level is not None:
        top["log_level"] = args.log_level
    if args.status_server is not None:
        top["status_server_address"] = args.status_server
    if args.addr is not None:
        top["server"] = attrs.evolve(config.server, addr=args.addr)
    if args.import_dir is not None:
        top["import_"] = attrs.evolve(config.import_, import_dir=args.import_dir)
    return attrs.evolve(config, **top)


def _setup_logging(config: ImporterConfig) -> None:
    handler: logging.Handler = (
        logging.FileHandler(config.log_file) if config.log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(_LOGGING_LEVELS[config.log_level.lower()])


def _credentials(config: ImporterConfig) -> grpc.ServerCredentials | None:
    security = config.security
    if security.cert_allowed_cn:
        raise ConfigError(
            "[security] cert-allowed-cn is not checked by this tikv-importer yet; remove it "
            "(a CA in ca-path still makes the server require client certificates)"
        )
    if not security.cert_path:
        return None

    def read(path: str) -> bytes:
        try:
            with open(path, "rb") as file:
                return file.read()
        except OSError as exc:
            raise ConfigError(f"[security] cannot read {path}: {exc.strerror}") from exc

    ca = read(security.ca_path) if security.ca_path else None
    return grpc.ssl_server_credentials(
        [(read(security.key_path), read(security.cert_path))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def serve(config: ImporterConfig, stop: threading.Event) -> None:
    """Run the servers until ``stop`` is set; prints the address listened on once ready."""
    section = config.import_
    engines = ServerEngines(
        section.import_dir,
        max_open=section.max_open_engines,
        # the ranges are the store's SST files: cut by size alone, as tikv-importer cuts them
        limits=RangeLimits(size=section.region_split_size, keys=1 << 62),
    )
    metrics = ImporterMetrics()
    security = config.security
    clusters = Clusters(
        # the listener's certificates are also this server's to PD and TiKV, as tikv-importer's
        SecurityConfig(
            ca_path=security.ca_path, cert_path=security.cert_path, key_path=security.key_path
        ),
        range_jobs=section.num_import_jobs,
        upload_limit=int(section.upload_speed_limit),
    )
    service = ImportKVService(
        engines,
        metrics,
        clusters,
        store_dir=section.store_dir,
        import_jobs=section.num_import_jobs,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=section.num_threads, thread_name_prefix="import-rpc"
        ),
        options=[
            # no limit on messages, as tikv-importer
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            ("grpc.max_concurrent_streams", config.server.grpc_concurrent_stream),
            ("grpc.keepalive_time_ms", int(config.server.grpc_keepalive_time * 1000)),
            ("grpc.keepalive_timeout_ms", int(config.server.grpc_keepalive_timeout * 1000)),
        ],
        maximum_concurrent_rpcs=section.num_threads + config.server.grpc_concurrency,
    )
    kvpb_grpc.add_ImportKVServicer_to_server(service, server)
    credentials = _credentials(config)
    address = config.server.addr
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:
        raise ConfigError(f"cannot listen on {address} ([server] addr / -A): {exc}") from exc
    status = None
    if config.status_server_address:
        try:
            status = StatusServer(
                config.status_server_address,
                metrics.text,
                lambda: {
                    "version": PROTOCOL_VERSION,
                    "commit": COMMIT,
                    "import_dir": str(engines.root),
                    "open_engines": engines.open_count,
                },
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot serve status on {config.status_server_address} "
                f"(status-server-address / --status-server): {exc}"
            ) from exc
    server.start()
    if status is not None:
        status.start()
    host = address.rpartition(":")[0]
    print(f"tikv-importer {PROTOCOL_VERSION} listening on {host}:{port}", flush=True)
    if status is not None:
        print(f"status server on port {status.port}", flush=True)
    log.info("listening on %s:%d, engines in %s", host, port, engines.root)
    try:
        stop.wait()
    finally:
        server.stop(SHUTDOWN_GRACE).wait()
        if status is not None:
            status.stop()
        log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tikv-importer``."""
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        config = configure(args)
        _setup_logging(config)
        serve(config, stop)
    except LightningError as exc:
        print(f"tikv-importer: {exc}", file=sys.stderr)
        return 1
    return 0
