"""Built-in conflict strategies: the three values of ``[tikv-importer] on-duplicate``."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from lightning_core._markers import hookimpl
from lightning_core.errors import DuplicateKeyError
from lightning_core.registry import ConflictStrategyRecord


@attrs.frozen
class VerbStrategy:
    """A strategy that is fully described by its statement verb."""

    name: str
    verb: str

    def insert_verb(self) -> str:
        """The statement head for this strategy."""
        return self.verb

    def statement_tail(self, columns: tuple[str, ...]) -> str:
        """The built-in strategies need nothing after the VALUES list."""
        return ""

    def on_duplicate_error(self, table: str, key: str, where: str) -> None:
        """A duplicate reached the strategy: stop the import and say where it came from."""
        raise DuplicateKeyError(
            f"duplicate entry {key} in table {table}, row at {where} "
            f'(on-duplicate = "{self.name}"); remove the row from the source or choose '
            'on-duplicate = "replace" or "ignore", then run again to resume'
        )


@hookimpl
def lightning_register_conflict_strategies() -> Iterable[ConflictStrategyRecord]:
    """``replace``, ``ignore`` and ``error``, as TiDB Lightning's TiDB backend defines them."""
    return [
        ConflictStrategyRecord(
            name="replace",
            factory=lambda: VerbStrategy("replace", "REPLACE INTO"),
            description="new rows replace old ones (REPLACE INTO)",
        ),
        ConflictStrategyRecord(
            name="ignore",
            factory=lambda: VerbStrategy("ignore", "INSERT IGNORE INTO"),
            description="old rows are kept, new ones dropped (INSERT IGNORE INTO)",
        ),
        ConflictStrategyRecord(
            name="error",
            factory=lambda: VerbStrategy("error", "INSERT INTO"),
            description="a duplicate stops the import (INSERT INTO)",
        ),
    ]
