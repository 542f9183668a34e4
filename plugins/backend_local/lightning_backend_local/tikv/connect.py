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
    from lightning_core.config_sections import SecurityConfig


def open_cluster(config: LightningConfig) -> Cluster:
    """The cluster of ``[tidb] pd-addr``, with ``[security]`` TLS on every channel."""
    return connect_cluster(
        config.tidb.pd_addr, config.security, int(config.tikv_importer.store_write_bwlimit)
    )


def connect_cluster(pd_addr: str, security: SecurityConfig, store_write_bwlimit: int) -> Cluster:
    """The cluster PD answers for at ``pd_addr``, TLS per ``security`` on every channel, each
    store written at most ``store_write_bwlimit`` bytes a second (0: no limit)."""
    channels = Channels(security)
    try:
        pd = PDClient(pd_addr, channels)
    except BaseException:
        channels.close()
        raise
    return Cluster(pd, channels, StoreLimiter(store_write_bwlimit))


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

    def __init__(self, cluster: Cluster, tuning: ImportTuning, keep_alive: float) -> None:
        """:param keep_alive: seconds between two refreshes of the import mode."""
        self._cluster = cluster
        self._importer = ClusterImporter(cluster, tuning)
        self._mode = ImportModeKeeper(cluster, keep_alive)

    @classmethod
    def from_config(cls, config: LightningConfig) -> ClusterIngest:
        """The cluster of ``[tidb] pd-addr``, tuned by ``[tikv-importer]``, the import mode
        refreshed every ``[cron] switch-mode``."""
        cluster = open_cluster(config)
        return cls(cluster, import_tuning(config), float(config.cron.switch_mode))

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
