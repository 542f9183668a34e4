"""The identity of a task: which settings decide what goes where, and the task's name."""

from __future__ import annotations

import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

import attrs

from lightning_core.config import kv_conflict_strategy

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig


def fingerprint_settings(config: LightningConfig, *, version: int = 2) -> dict[str, Any]:
    """The settings a checkpoint is only valid with: changing one of them between two runs of
    a task would import into another place or another way.

    :param version: the records version whose fingerprint to make; version 1 did not cover
        the KV backends' PD address, importer address and sorted-kv-dir.

    The KV backends' conflict strategy is named only when it is not ``error``: checkpoints
    written before it was part of the fingerprint had ``error`` (the only strategy then), and
    their digest stays the one of the same settings today.
    """
    settings = _naming_settings(config)
    if version >= 2:
        settings.update(
            pd_addr=config.tidb.pd_addr,
            importer_addr=config.tikv_importer.addr,
            sorted_kv_dir=config.tikv_importer.sorted_kv_dir,
        )
        strategy = kv_conflict_strategy(config)
        if strategy != "error":
            settings["conflict.strategy"] = strategy
    return settings


def _naming_settings(config: LightningConfig) -> dict[str, Any]:
    return {
        "backend": config.tikv_importer.backend,
        "on_duplicate": config.tikv_importer.on_duplicate,
        "mydumper": attrs.asdict(config.mydumper),
        "routes": [attrs.asdict(r) for r in config.routes],
        "target": f"{config.tidb.host}:{config.tidb.port}",
    }


def task_id_of(config: LightningConfig) -> str:
    """A stable name for this task: the data source, the target and every setting that decides
    what goes where, so that two imports of one dump (say into two databases) never share
    progress records. (Made of the settings version 1 named tasks by, so that a checkpoint of
    that version is found, and then read or refused.)"""
    ident = json.dumps(
        [os.path.abspath(config.mydumper.data_source_dir), _naming_settings(config)],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha1(ident.encode()).hexdigest()[:16]
