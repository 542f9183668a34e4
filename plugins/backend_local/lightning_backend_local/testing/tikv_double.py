"""A strict PD + TiKV protocol double on real gRPC servers, and its console script.

PD serves at one address; every store serves ``tikvpb.Tikv`` and ``import_sstpb.ImportSST`` at
its own address (the ``address`` PD lists for it). What the stores ingest lands in the embedded
store at ``store_dir`` (raw TiDB keys, as the embedded path writes them), so an import through
the double can be checked, exported and compared like one into the embedded store.

Usage from a test::

    with TikvDouble(store_dir=tmp, stores=3, faults=FaultPlan(seed=7)) as double:
        channel = grpc.insecure_channel(double.pd_address)
        ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent import futures
from types import FrameType, TracebackType

import grpc

from lightning_backend_local.kvproto import (
    import_sstpb_pb2_grpc,
    pdpb_pb2_grpc,
    tikvpb_pb2_grpc,
)
from lightning_backend_local.testing.cluster import Cluster
from lightning_backend_local.testing.faults import FaultPlan
from lightning_backend_local.testing.pd_double import PDDouble
from lightning_backend_local.testing.store_lease import DEFAULT_LINGER, StoreLease
from lightning_backend_local.testing.tikv_store import StoreDouble
from lightning_core import KVChecksum

IMPORT_DIRECTORY = "tikv-double"
"""Under the store directory: the stores' import directories (emptied at start)."""
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    ("grpc.so_reuseport", 0),
]
DEFAULT_IMPORT_MODE_TIMEOUT = 600.0
"""TiKV's ``import.import-mode-timeout`` (10 min)."""


class TikvDouble:
    """PD and ``stores`` TiKV stores serving on ``host``.

    :param store_dir: the embedded store the stores ingest into.
    :param port: PD's port; store ``i`` uses ``port + i`` (0: every server on a free port).
    :param faults: the faults to inject (none when None).
    :param import_mode_timeout: seconds after which a store in import mode goes back to normal.
    :param cluster_id: the cluster id (random when None).
    :param scatter_polls: GetOperator calls that report a scatter as still running.
    :param store_linger: seconds the embedded store stays open after the last call using it.
    """

    def __init__(
        self,
        *,
        store_dir: str,
        stores: int = 3,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        import_mode_timeout: float = DEFAULT_IMPORT_MODE_TIMEOUT,
        cluster_id: int | None = None,
        scatter_polls: int = 2,
        store_linger: float = DEFAULT_LINGER,
    ) -> None:
        self.store_dir = os.path.abspath(store_dir)
        self.host = host
        self.port = port
        self.faults = faults or FaultPlan()
        self.cluster = Cluster(
            store_count=stores,
            cluster_id=cluster_id,
            scatter_polls=scatter_polls,
            seed=self.faults.seed or 0,
        )
        self.import_mode_timeout = import_mode_timeout
        self.pd_address = ""
        self.stores: dict[int, StoreDouble] = {}
        self._pd_server: grpc.Server | None = None
        self._store_servers: dict[int, grpc.Server] = {}
        self.store = StoreLease(self.store_dir, linger=store_linger)
        """The embedded store the stores ingest into."""

    def _server(self, port: int) -> tuple[grpc.Server, str]:
        """A new server listening on ``port`` (0: any free one), and its address."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32), options=SERVER_OPTIONS)
        try:
            bound = server.add_insecure_port(f"{self.host}:{port}")
        except RuntimeError:  # grpc's way of saying the port is taken
            bound = 0
        if bound == 0:
            server.stop(None)
            raise OSError(f"cannot listen on {self.host}:{port}: is the port in use?")
        return server, f"{self.host}:{bound}"

    def start(self) -> TikvDouble:
        """Bind and start every server; the double."""
        import_root = os.path.join(self.store_dir, IMPORT_DIRECTORY)
        shutil.rmtree(import_root, ignore_errors=True)
        os.makedirs(import_root)
        written: dict[str, KVChecksum] = {}
        try:
            self._pd_server, self.pd_address = self._server(self.port)
            pd = PDDouble(self.cluster, address=self.pd_address, store_dir=self.store_dir)
            pdpb_pb2_grpc.add_PDServicer_to_server(pd, self._pd_server)
            self._pd_server.start()
            for store_id in self.cluster.store_ids:
                self.stores[store_id] = StoreDouble(
                    store_id=store_id,
                    cluster=self.cluster,
                    faults=self.faults,
                    store=self.store,
                    import_root=import_root,
                    import_mode_timeout=self.import_mode_timeout,
                    written=written,
                )
                self._serve_store(store_id, self.port + store_id if self.port else 0)
        except BaseException:
            self.stop()
            raise
        return self

    def _serve_store(self, store_id: int, port: int) -> None:
        server, address = self._server(port)
        tikvpb_pb2_grpc.add_TikvServicer_to_server(self.stores[store_id], server)
        import_sstpb_pb2_grpc.add_ImportSSTServicer_to_server(self.stores[store_id], server)
        server.start()
        self._store_servers[store_id] = server
        self.cluster.set_store_address(store_id, address)

    def store_addresses(self) -> dict[int, str]:
        """Store id → the address it serves at."""
        return {i: info.address for i, info in sorted(self.cluster.stores.items())}

    def stop_store(self, store_id: int) -> None:
        """Take store ``store_id`` down (its calls fail with UNAVAILABLE); PD still lists it
        and its regions keep their peers there, as when a TiKV process dies."""
        self._store_servers.pop(store_id).stop(None).wait()

    def restart_store(self, store_id: int) -> None:
        """Serve a stopped store again at its address, with what it held before."""
        port = int(self.store_addresses()[store_id].rpartition(":")[2])
        self._serve_store(store_id, port)

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop every server (calls in flight get ``grace`` seconds)."""
        servers = [*self._store_servers.values()]
        if self._pd_server is not None:
            servers.append(self._pd_server)
        for event in [server.stop(grace) for server in servers]:
            event.wait()
        self._store_servers.clear()
        self._pd_server = None
        self.store.close()

    def __enter__(self) -> TikvDouble:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``lightning-tikv-double``: serve a PD + TiKV double until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="lightning-tikv-double",
        description="A strict PD + TiKV protocol double for trying tidb-lightning's TiKV path: "
        "real gRPC services, ingesting into an embedded store directory.",
    )
    parser.add_argument("--addr", required=True, help="PD's HOST:PORT (port 0: any free port)")
    parser.add_argument("--store-dir", required=True, help="the embedded store to ingest into")
    parser.add_argument("--stores", type=int, default=3, help="how many TiKV stores (3)")
    parser.add_argument("--fault-seed", type=int, help="inject faults drawn from this seed")
    parser.add_argument(
        "--fault-rate", type=float, default=0.15, help="chance of a fault per call (0.15)"
    )
    parser.add_argument(
        "--import-mode-timeout",
        type=float,
        default=DEFAULT_IMPORT_MODE_TIMEOUT,
        help="seconds a store stays in import mode without a new SwitchMode (600)",
    )
    args = parser.parse_args(argv)
    host, _, port = args.addr.rpartition(":")
    if not host or not port.isdigit() or args.stores < 1:
        parser.error("--addr must be HOST:PORT and --stores at least 1")
    faults = FaultPlan(args.fault_seed, rate=args.fault_rate)
    double = TikvDouble(
        store_dir=args.store_dir,
        stores=args.stores,
        host=host,
        port=int(port),
        faults=faults,
        import_mode_timeout=args.import_mode_timeout,
    )
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        double.start()
    except OSError as exc:
        print(f"lightning-tikv-double: {exc}", file=sys.stderr)
        return 1
    print(f"pd {double.pd_address}", flush=True)
    for store_id, address in double.store_addresses().items():
        print(f"store {store_id} {address}", flush=True)
    print(f"cluster-id {double.cluster.cluster_id}", flush=True)
    while not stopping.wait(0.5):
        pass
    double.stop()
    return 0
