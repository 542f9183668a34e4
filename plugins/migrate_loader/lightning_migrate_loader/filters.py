"""Loader's black/white lists as TiDB Lightning table-filter rules.

Loader (through the tidb-tools ``filter`` package) decided with MySQL's replication rules:

* schemas: when do-dbs is non-empty a table's schema must match one of them (ignore-dbs is then
  not consulted); otherwise a schema matching ignore-dbs is skipped;
* tables: when do-tables is non-empty a table must match one of them (ignore-tables is then
  not consulted); otherwise a table matching ignore-tables is skipped;
* a table is imported when both checks pass.

A name starting with ``~`` is a regular expression (searched, not anchored); any other name is
a wildcard pattern (``*``, ``?``, ``[...]``). Matching is case-insensitive.

Lightning's ``[mydumper] filter`` is an ordered list where the *last* matching rule decides and
a table matching no rule is skipped. So the translation lists the includes first and the ``!``
excludes after them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence

import attrs

from lightning_core.config import DEFAULT_FILTER
from lightning_core.source.table_filter import black_white_list_name

SYSTEM_SCHEMA_EXCLUDES: tuple[str, ...] = tuple(r for r in DEFAULT_FILTER if r.startswith("!"))
"""What TiDB Lightning's default filter leaves out; kept when a rule list starts with ``*.*``."""


@attrs.frozen(kw_only=True)
class TablePattern:
    """One ``db-name``/``tbl-name`` pair of a do-tables or ignore-tables list."""

    db: str
    table: str


@attrs.frozen(kw_only=True)
class BlackWhiteList:
    """The four lists, merged from every spelling Loader and its siblings used."""

    do_dbs: tuple[str, ...] = ()
    ignore_dbs: tuple[str, ...] = ()
    do_tables: tuple[TablePattern, ...] = ()
    ignore_tables: tuple[TablePattern, ...] = ()

    def is_empty(self) -> bool:
        """No list has an entry: Lightning's default filter applies."""
        return not (self.do_dbs or self.ignore_dbs or self.do_tables or self.ignore_tables)


@attrs.frozen(kw_only=True)
class FilterTranslation:
    """The rules and what the user must know about them."""

    rules: tuple[str, ...]
    notes: tuple[str, ...] = ()
    """Entries that had no effect in Loader either, or were approximated."""


def filter_name(name: str) -> str:
    """One side of a table-filter rule for a Loader name: ``~re`` → ``/re/``, else escaped
    (Loader's names are the deprecated ``[black-white-list]``'s, so the core translates them)."""
    return black_white_list_name(name)


def filter_rule(db: str, table: str = "*", *, exclude: bool = False) -> str:
    """``db.table`` (or ``!db.table``) in table-filter syntax from Loader names."""
    table_part = "*" if table == "*" else filter_name(table)
    return ("!" if exclude else "") + filter_name(db) + "." + table_part


def loader_name_matches(pattern: str, name: str) -> bool:
    """Whether a Loader name pattern (``~regex`` or wildcard) matches a literal name."""
    if pattern.startswith("~"):
        return re.search(pattern[1:], name, flags=re.IGNORECASE) is not None
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


def is_literal(name: str) -> bool:
    """A name that is neither a regular expression nor has wildcard characters."""
    return not name.startswith("~") and not any(c in name for c in "*?[")


def translate_black_white_list(bw: BlackWhiteList) -> FilterTranslation:
    """Translate the four lists into an ordered table-filter rule list (see module docstring)."""
    if bw.is_empty():
        return FilterTranslation(rules=())
    rules: list[str] = []
    notes: list[str] = []
    if bw.do_dbs and bw.ignore_dbs:
        notes.append(
            "ignore-dbs is not used because do-dbs is set (Loader did not consult it either): "
            + ", ".join(bw.ignore_dbs)
        )
    if bw.do_tables and bw.ignore_tables:
        notes.append(
            "ignore-tables is not used because do-tables is set (Loader did not consult it "
            "either): " + ", ".join(f"{t.db}.{t.table}" for t in bw.ignore_tables)
        )

    if bw.do_tables:
        for table in bw.do_tables:
            if bw.do_dbs and not _db_allowed(table.db, bw.do_dbs, notes):
                continue
            rules.append(filter_rule(table.db, table.table))
        if not bw.do_dbs:
            rules.extend(filter_rule(db, exclude=True) for db in bw.ignore_dbs)
        if not rules:
            notes.append("no do-tables entry is inside do-dbs, so nothing would be imported")
        return FilterTranslation(rules=tuple(rules), notes=tuple(notes))

    if bw.do_dbs:
        rules.extend(filter_rule(db) for db in bw.do_dbs)
    else:
        rules.append("*.*")
        rules.extend(SYSTEM_SCHEMA_EXCLUDES)
        rules.extend(filter_rule(db, exclude=True) for db in bw.ignore_dbs)
    rules.extend(filter_rule(t.db, t.table, exclude=True) for t in bw.ignore_tables)
    return FilterTranslation(rules=tuple(rules), notes=tuple(notes))


def _db_allowed(db: str, do_dbs: Sequence[str], notes: list[str]) -> bool:
    """Intersect a do-tables schema with do-dbs, which table-filter rules cannot express."""
    if is_literal(db):
        if any(loader_name_matches(pattern, db) for pattern in do_dbs):
            return True
        notes.append(f"do-tables entry for schema {db!r} dropped: {db!r} is not in do-dbs")
        return False
    notes.append(
        f"do-tables schema pattern {db!r} is kept as is: the rule cannot also require the "
        "schema to match do-dbs, so check that the pattern names only schemas in do-dbs"
    )
    return True


def route_filter_rules(schema_pattern: str, table_pattern: str) -> str:
    """An include rule for the source tables of a route (wildcards are shared syntax)."""
    return filter_rule(schema_pattern, table_pattern or "*")
