"""What the local backend opens when ``[tidb] pd-addr`` is set: the cluster, the importer of
engines' ranges and the import mode around them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lightning_backend_local.tikv.channels import Channels
from lightning_backend_local.tikv.cluster import Cluster, StoreLimiter
from lightning_backend_local.tikv.importer import MIN_BATCH_BYTES, ClusterImporter, ImportTuning
from lightning_backend_local.tikv.mode import ImportModeKeeper
from lightning_backend_local.tikv.pd import PDClient

if TYPE_CHECKING:
    from lightning_core import LightningConfig


def open_cluster(config: LightningConfig) -> Cluster:
    """The cluster of ``[tidb] pd-addr``, with ``[security]`` TLS on every channel."""
    channels = Channels(config.security)
    try:
        pd = PDClient(config.tidb.pd_addr, channels)
    except BaseException:
        channels.close()
        raise
    return Cluster(pd, channels, StoreLimiter(int(config.tikv_importer.store_write_bwlimit)))


def import_tuning(config: LightningConfig) -> ImportTuning:
    """The jobs' tuning from ``[tikv-importer]``."""
    importer = config.tikv_importer
    return ImportTuning(
        range_concurrency=max(1, importer.range_concurrency),
        batch_bytes=max(MIN_BATCH_BYTES, int(importer.send_kv_size)),
    )


class ClusterIngest:
    """Ingests engines' range files into the cluster, in import mode from the first ingest
    until :meth:`close`."""

    def __init__(self, config: LightningConfig) -> None:
        self._cluster = open_cluster(config)
        self._importer = ClusterImporter(self._cluster, import_tuning(config))
        self._mode = ImportModeKeeper(self._cluster, float(config.cron.switch_mode))

    def ingest(self, paths: Sequence[str]) -> None:
        """Import one engine's range files (a resume skips the ranges already ingested)."""
        if not paths:
            return
        self._mode.start()
        self._importer.import_files(paths)

    def close(self) -> None:
        """Switch the stores back to normal mode and close the channels."""
        try:
            self._mode.stop()
        finally:
            self._cluster.close()
