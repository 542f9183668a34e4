"""The TiDB backend of tidb-lightning: rows become SQL statements run on any MySQL server."""

from lightning_backend_tidb.backend import TiDBBackend, TiDBWorker, TiDBWriter
from lightning_backend_tidb.encoder import SqlStatementEncoder, Statement

__version__ = "0.1.0"

__all__ = [
    "SqlStatementEncoder",
    "Statement",
    "TiDBBackend",
    "TiDBWorker",
    "TiDBWriter",
    "__version__",
]
