"""Target tables as the pipeline sees them: routed names and the columns the target has."""

from __future__ import annotations

from typing import Any

import attrs

from lightning_core.sqltext import quote_identifier


@attrs.frozen(kw_only=True)
class TargetTable:
    """A table of the target server."""

    schema: str
    name: str
    columns: tuple[str, ...]
    """Names of the columns rows are written to, in table order, as the target spells them.
    Generated columns are left out: the server computes them, and dumps do not hold them."""
    lookup: dict[str, str] = attrs.field(eq=False, repr=False)
    """Lower-cased column name → the target's spelling (MySQL column names ignore case)."""

    @lookup.default
    def _lookup(self) -> dict[str, str]:
        return {name.lower(): name for name in self.columns}

    @property
    def quoted(self) -> str:
        """```schema`.`name```, ready for SQL text."""
        return f"{quote_identifier(self.schema)}.{quote_identifier(self.name)}"


def read_target_table(conn: Any, schema: str, name: str) -> TargetTable | None:
    """The table as the target has it, or None when it does not exist."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, EXTRA FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        found = cur.fetchall()
        columns = tuple(row[0] for row in found if "GENERATED" not in (row[1] or "").upper())
    if not found:
        return None
    return TargetTable(schema=schema, name=name, columns=columns)
