"""The local backend's path into a TiKV cluster: PD and TiKV clients, the per-range import job
(split, scatter, write, ingest), import mode and the cluster's target.

The functions here are what the rest of the plugin calls; they import grpc only when a cluster
is configured (``[tidb] pd-addr`` / ``--pd-urls``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lightning_backend_local.options import LocalOptions
    from lightning_core import LightningConfig, Target


class IngestTarget(Protocol):
    """Where an engine's range files go: the embedded store or a cluster."""

    def ingest(self, paths: Sequence[str]) -> None:
        """Ingest the range files of one engine."""

    def close(self) -> None:
        """Release what the target holds."""


def open_ingest_target(config: LightningConfig, options: LocalOptions) -> IngestTarget:
    """The cluster of ``[tidb] pd-addr`` when it is set, else the embedded store."""
    if not config.tidb.pd_addr:
        from lightning_backend_local.store import EmbeddedStore

        return EmbeddedStore.open(options.store_dir)
    from lightning_backend_local.tikv.connect import ClusterIngest

    return ClusterIngest.from_config(config)


def open_cluster_target(config: LightningConfig, catalog_dir: str | None) -> Target:
    """The target of an import into a cluster: TiDB through ``[tidb]`` SQL or, when the user
    named a store directory for it (a cluster without TiDB, such as the protocol double), the
    catalog there with the checksum computed by the stores."""
    if catalog_dir is not None:
        from lightning_backend_local.tikv.target import ClusterTarget

        return ClusterTarget(config=config, store_dir=catalog_dir)
    from lightning_core import SqlTarget

    return SqlTarget(config)


def cluster_mode(config: LightningConfig, mode: str | None) -> list[str]:
    """``tidb-lightning-ctl --switch-mode=MODE`` (``import`` / ``normal``) or, with None,
    ``--fetch-mode``: one line per TiKV store of ``[tidb] pd-addr``."""
    from lightning_backend_local.tikv.connect import open_cluster
    from lightning_backend_local.tikv.mode import store_modes, switch_stores
    from lightning_core import ConfigError, TargetError

    if not config.tidb.pd_addr:
        raise ConfigError(
            "switching or reading TiKV's mode needs the cluster: set [tidb] pd-addr (or "
            "--pd-urls) to PD's address"
        )
    import grpc

    cluster = open_cluster(config)
    try:
        return store_modes(cluster) if mode is None else switch_stores(cluster, mode)
    except grpc.RpcError as exc:
        raise TargetError(
            f"a TiKV store did not answer: {exc.code()} {exc.details()}; check that every "
            "store PD lists is up"
        ) from exc
    finally:
        cluster.close()
