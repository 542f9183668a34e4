"""Hook implementations of the local backend distribution."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lightning_backend_local.options import LocalOptions
from lightning_core import BackendRecord, ConflictStrategy, Encoder, hookimpl

if TYPE_CHECKING:
    from lightning_backend_local.backend import LocalBackend, LocalWorker
    from lightning_backend_local.store import EmbeddedTarget
    from lightning_core import LightningConfig, Target


def _backend(*, config: LightningConfig, task: str, options: LocalOptions) -> LocalBackend:
    from lightning_backend_local.backend import LocalBackend

    return LocalBackend(config=config, task=task, options=options)


def _worker(
    *,
    config: LightningConfig,
    task: str,
    strategy: ConflictStrategy,
    encoder: Callable[..., Encoder[object]] | None,
    options: LocalOptions,
) -> LocalWorker:
    from lightning_backend_local.backend import LocalWorker

    return LocalWorker(
        config=config, task=task, strategy=strategy, encoder=encoder, options=options
    )


def _target(*, config: LightningConfig, options: LocalOptions) -> EmbeddedTarget | Target:
    if config.tidb.pd_addr:
        from lightning_backend_local.tikv import open_cluster_target

        named = "store-dir" in config.plugin.get("local", {})
        return open_cluster_target(config, options.store_dir if named else None)
    from lightning_backend_local.store import EmbeddedTarget

    return EmbeddedTarget(config=config, options=options)


def _cluster_mode(*, config: LightningConfig, mode: str | None, options: LocalOptions) -> list[str]:
    from lightning_backend_local.tikv import cluster_mode

    return cluster_mode(config, mode)


def _export(
    *, config: LightningConfig, out_dir: str, tables: list[str] | None, options: LocalOptions
) -> list[str]:
    from lightning_backend_local.export import export_store

    return export_store(options.store_dir, out_dir, tables)


@hookimpl
def lightning_register_backends() -> Iterable[BackendRecord]:
    """The ``local`` backend, into the embedded store or a TiKV cluster."""
    return [
        BackendRecord(
            name="local",
            factory=_backend,
            worker_factory=_worker,
            target_factory=_target,
            exporter=_export,
            cluster_mode=_cluster_mode,
            options_type=LocalOptions,
            uses_engines=True,
            needs_table_model=True,
            encoder="kv",
            preferred_encoder="kv-native",
            requires_empty_target=True,
            fork_safe=False,
            description="KV pairs sorted in sorted-kv-dir, ingested into the embedded store "
            "or, with [tidb] pd-addr, into a TiKV cluster",
        )
    ]
