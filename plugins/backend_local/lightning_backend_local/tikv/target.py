"""The target of an import into a cluster without SQL (the protocol double): schemas in the
catalog of a store directory (``[plugin.local] store-dir`` or ``[plugin.importer] store-dir``),
rows counted and checksummed by the stores through TiKV's checksum coprocessor request, as
Lightning's ``checksum-via-sql = false`` does."""

from __future__ import annotations

import os

from lightning_backend_local.store import CatalogTarget, StoreCatalog
from lightning_backend_local.tikv.connect import open_cluster
from lightning_backend_local.tikv.regions import KeyRange
from lightning_core import (
    KVChecksum,
    LightningConfig,
    TargetError,
    TargetTable,
    record_prefix,
    table_prefix,
)


def _prefix_range(prefix: bytes) -> KeyRange:
    # TiDB's table and record prefixes never end in 0xff
    return KeyRange(prefix, prefix[:-1] + bytes([prefix[-1] + 1]))


class ClusterTarget(CatalogTarget):
    """Schemas in a store's catalog; counts and checksums from the cluster."""

    def __init__(self, *, config: LightningConfig, store_dir: str) -> None:
        os.makedirs(store_dir, exist_ok=True)
        super().__init__(config=config, catalog=StoreCatalog(os.path.abspath(store_dir)))
        self._cluster = open_cluster(config)

    def count_rows(self, table: TargetTable) -> int:
        """Record keys of the table, counted by the stores."""
        return self._cluster.checksum(_prefix_range(record_prefix(table.table_id))).total_kvs

    def checksum(self, table: TargetTable) -> KVChecksum:
        """The stores' checksum of every pair of the table."""
        return self._cluster.checksum(_prefix_range(table_prefix(table.table_id)))

    def drop_table(self, table: TargetTable) -> None:
        """Not yet: deleting a table's keys in the cluster needs deletions written through
        ImportSST."""
        raise TargetError(
            f"dropping {table.quoted} from the cluster is not supported yet: its keys stay; "
            "remove the double's store directory to start over"
        )

    def close(self) -> None:
        """Close the cluster's channels."""
        try:
            self._cluster.close()
        finally:
            super().close()
