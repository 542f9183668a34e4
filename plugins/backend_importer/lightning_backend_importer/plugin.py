"""Hook implementations of the importer backend distribution."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lightning_backend_importer.options import ImporterOptions
from lightning_core import BackendRecord, ConflictStrategy, Encoder, hookimpl

if TYPE_CHECKING:
    from lightning_backend_importer.backend import (
        ImporterBackend,
        ImporterStoreTarget,
        ImporterWorker,
    )
    from lightning_core import LightningConfig, Target


def _backend(*, config: LightningConfig, task: str, options: ImporterOptions) -> ImporterBackend:
    from lightning_backend_importer.backend import ImporterBackend

    return ImporterBackend(config=config, task=task, options=options)


def _worker(
    *,
    config: LightningConfig,
    task: str,
    strategy: ConflictStrategy,
    encoder: Callable[..., Encoder[object]] | None,
    options: ImporterOptions,
) -> ImporterWorker:
    from lightning_backend_importer.backend import ImporterWorker

    return ImporterWorker(
        config=config, task=task, strategy=strategy, encoder=encoder, options=options
    )


def _target(*, config: LightningConfig, options: ImporterOptions) -> ImporterStoreTarget | Target:
    if config.tidb.pd_addr:
        from lightning_backend_local.tikv import open_cluster_target

        named = "store-dir" in config.plugin.get("importer", {})
        return open_cluster_target(config, options.store_dir if named else None)
    from lightning_backend_importer.backend import ImporterStoreTarget

    return ImporterStoreTarget(config=config, options=options)


def _export(
    *, config: LightningConfig, out_dir: str, tables: list[str] | None, options: ImporterOptions
) -> list[str]:
    from lightning_backend_local.export import export_store

    return export_store(options.store_dir, out_dir, tables)


@hookimpl
def lightning_register_backends() -> Iterable[BackendRecord]:
    """The ``importer`` backend, through a tikv-importer."""
    return [
        BackendRecord(
            name="importer",
            factory=_backend,
            worker_factory=_worker,
            target_factory=_target,
            exporter=_export,
            options_type=ImporterOptions,
            uses_engines=True,
            needs_table_model=True,
            encoder="kv",
            preferred_encoder="kv-native",
            requires_empty_target=True,
            fork_safe=False,
            description="KV pairs streamed to tikv-importer ([tikv-importer] addr), which "
            "sorts and ingests them",
        )
    ]
