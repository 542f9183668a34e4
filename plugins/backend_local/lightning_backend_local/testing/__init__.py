"""A strict PD + TiKV protocol double for testing (and trying) the local backend's TiKV path.

:class:`TikvDouble` runs PD and several TiKV stores as real gRPC servers speaking the kvproto
messages of :mod:`lightning_backend_local.kvproto`; it refuses what TiKV refuses, injects
faults from a :class:`FaultPlan`, and keeps what it ingests in an embedded store directory.
The console script ``lightning-tikv-double`` serves one from the command line.
"""

from lightning_backend_local.testing.cluster import Cluster, Region
from lightning_backend_local.testing.faults import Call, Fault, FaultPlan, FiredFault
from lightning_backend_local.testing.tikv_double import TikvDouble, main
from lightning_backend_local.testing.tikv_store import CHECKSUM_REQUEST_TYPE, StoreDouble

__all__ = [
    "CHECKSUM_REQUEST_TYPE",
    "Call",
    "Cluster",
    "Fault",
    "FaultPlan",
    "FiredFault",
    "Region",
    "StoreDouble",
    "TikvDouble",
    "main",
]
