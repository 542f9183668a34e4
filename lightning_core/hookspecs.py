"""The plugin contract of tidb-lightning: every hook a plugin can implement.

A plugin is a module of ``@hookimpl`` functions named by an entry point of group
``lightning.plugins``. Registration hooks yield records (see :mod:`lightning_core.registry`);
lifecycle hooks are called once per phase, never per row. Hooks are called with keyword
arguments only; arguments may be added in later versions, never renamed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lightning_core._markers import hookspec

if TYPE_CHECKING:
    from lightning_core.context import ImportContext, TableSummary
    from lightning_core.registry import (
        BackendRecord,
        CheckpointStoreRecord,
        ConflictStrategyRecord,
        EncoderRecord,
        SourceReaderRecord,
    )


@hookspec
def lightning_register_backends() -> Iterable[BackendRecord]:
    """Return the backends this plugin provides.

    A backend is chosen by ``[tikv-importer] backend`` or ``--backend``.

    .. versionadded:: 0.1
    """


@hookspec
def lightning_register_source_readers() -> Iterable[SourceReaderRecord]:
    """Return the source readers this plugin provides, each naming the formats it reads.

    .. versionadded:: 0.1
    """


@hookspec
def lightning_register_encoders() -> Iterable[EncoderRecord]:
    """Return the encoders this plugin provides (rows → statements or KV pairs).

    .. versionadded:: 0.1
    """


@hookspec
def lightning_register_conflict_strategies() -> Iterable[ConflictStrategyRecord]:
    """Return the conflict strategies this plugin provides (``on-duplicate`` values).

    .. versionadded:: 0.1
    """


@hookspec
def lightning_register_checkpoint_stores() -> Iterable[CheckpointStoreRecord]:
    """Return the checkpoint stores this plugin provides (``[checkpoint] driver`` values).

    .. versionadded:: 0.1
    """


@hookspec
def lightning_before_import(context: ImportContext) -> None:
    """Called once after the plan is made and before any table is written.

    Raise a ``LightningError`` to refuse the import (a pre-check).

    :param context: the task: configuration, backend name and planned tables.

    .. versionadded:: 0.1
    """


@hookspec
def lightning_after_table(context: ImportContext, table: TableSummary) -> None:
    """Called once after a table is fully imported and verified.

    :param context: the task.
    :param table: the table's target name, rows, bytes and time.

    .. versionadded:: 0.1
    """


@hookspec
def lightning_on_table_error(context: ImportContext, table: str, error: BaseException) -> None:
    """Called once when a table fails; the import then stops with that error.

    :param context: the task.
    :param table: target name of the table, as ```db`.`table```.
    :param error: what failed.

    .. versionadded:: 0.1
    """


@hookspec
def lightning_after_import(context: ImportContext, tables: list[TableSummary]) -> None:
    """Called once after every table is imported and verified.

    :param context: the task.
    :param tables: one summary per table.

    .. versionadded:: 0.1
    """
