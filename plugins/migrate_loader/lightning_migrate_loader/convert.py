"""Turn Loader settings into a tidb-lightning.toml for the TiDB backend.

The output is built with tomlkit: each translated key keeps the comments that stood above it
in the Loader file, lines starting with ``migrate:`` say where Lightning means something else,
and every setting that could not be translated is listed (with the reason) at the top of the
file and returned as a :class:`MigrationNote` for the command to print.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

import attrs
import tomlkit
from tomlkit.items import AoT, Table

from lightning_migrate_loader.catalog import (
    BLACK_WHITE_LIST_KEYS,
    DB_KEYS,
    TRANSLATED_TOP_LEVEL,
    UNTRANSLATED,
)
from lightning_migrate_loader.errors import MigrationError
from lightning_migrate_loader.filters import (
    BlackWhiteList,
    TablePattern,
    filter_rule,
    route_filter_rules,
    translate_black_white_list,
)
from lightning_migrate_loader.loader_config import LoaderEntry, LoaderInput, read_loader_input

SECTION_ORDER = ("lightning", "checkpoint", "tikv-importer", "mydumper", "tidb")
MIGRATE = "migrate: "

_COMMENT_RENAMES = (
    ("[[route-rules]]", "[[routes]]"),
    ("pattern-schema", "schema-pattern"),
    ("pattern-table", "table-pattern"),
)


@attrs.frozen(kw_only=True)
class MigrationNote:
    """A Loader setting that did not make it into the output, or was changed on the way."""

    key: str
    """The Loader key (``db.max-allowed-packet``) or flag."""
    message: str
    unknown: bool = False
    """Not a Loader key at all (probably a typo), rather than a Loader key with no equivalent."""

    def __str__(self) -> str:
        if self.unknown:
            return f"unknown Loader key {self.key!r} ignored: {self.message}"
        return f"{self.key}: {self.message}"


@attrs.frozen(kw_only=True)
class MigrationResult:
    """The generated configuration and what the user should read about it."""

    text: str
    """The tidb-lightning.toml, ready to write."""
    notes: tuple[MigrationNote, ...]


@attrs.frozen(kw_only=True)
class _Route:
    schema_pattern: str
    table_pattern: str
    target_schema: str
    target_table: str
    entry: LoaderEntry | None


def migrate_text(
    text: str, source: str = "loader.toml", flags: Sequence[str] = ()
) -> MigrationResult:
    """Translate the text of a Loader TOML file (plus Loader flags) into tidb-lightning.toml.

    :raises MigrationError: invalid TOML or flags, or not a Loader configuration.
    """
    return migrate(read_loader_input(text, source, flags))


def migrate(loader: LoaderInput) -> MigrationResult:
    """Translate what :func:`read_loader_input` read."""
    return _Converter(loader).run()


class _Converter:
    """One translation; keeps the sections being built and the notes gathered."""

    def __init__(self, loader: LoaderInput) -> None:
        self.loader = loader
        self.sections: dict[str, Table] = {}
        self.notes: list[MigrationNote] = []
        self.routes: list[_Route] = []
        self.bw_entries: list[LoaderEntry] = []
        self.bw = BlackWhiteList()
        self.source_db: LoaderEntry | None = None
        self.alternative_db: LoaderEntry | None = None
        self.has_status_addr = any(e.path == ("status-addr",) for e in loader.entries)

    # -- driver ---------------------------------------------------------------------------------

    def run(self) -> MigrationResult:
        if not self.loader.entries:
            raise MigrationError(
                f"{self.loader.source}: no Loader setting to migrate (the file is empty and no "
                "Loader flag was given)"
            )
        for entry in self.loader.entries:
            self._translate(entry)
        self._put_backend()
        self._finish_source_db()
        self._put_filter()
        return MigrationResult(text=self._render(), notes=tuple(self.notes))

    def _translate(self, entry: LoaderEntry) -> None:
        path = entry.path
        head = path[0]
        if len(path) == 1 and path in UNTRANSLATED:
            self._note(entry, UNTRANSLATED[path])
        elif head in ("db", "to") and len(path) == 2:
            self._translate_db(entry)
        elif head == "black-white-list" or head in _OLD_STYLE_LISTS:
            self._collect_black_white_list(entry)
        elif len(path) == 1 and head in _SIMPLE:
            _SIMPLE[head](self, entry)
        elif head not in TRANSLATED_TOP_LEVEL or len(path) > 1:
            self.notes.append(
                MigrationNote(
                    key=entry.key,
                    message="Loader has no such key (check the spelling)",
                    unknown=True,
                )
            )
        else:  # a known key with a value of the wrong shape, e.g. db = "x"
            raise MigrationError(
                f"{self.loader.source}: {entry.key} has an unexpected value {entry.value!r}"
            )

    # -- [lightning] ----------------------------------------------------------------------------

    def _log_level(self, entry: LoaderEntry) -> None:
        self._put("lightning", "level", self._string(entry).lower(), entry)

    def _log_file(self, entry: LoaderEntry) -> None:
        self._put("lightning", "file", self._string(entry), entry)

    def _status_addr(self, entry: LoaderEntry) -> None:
        self._put(
            "lightning",
            "status-addr",
            self._string(entry),
            entry,
            "Lightning serves its Prometheus metrics (/metrics) and progress (/progress) here, "
            "as Loader served its metrics; it serves no pprof.",
        )

    def _pprof_addr(self, entry: LoaderEntry) -> None:
        if self.has_status_addr:
            self._note(
                entry,
                "status-addr is also set; Lightning has one status address and serves no pprof",
            )
            return
        self._put(
            "lightning",
            "status-addr",
            self._string(entry),
            entry,
            "Loader's pprof-addr; Lightning serves no pprof, but its Prometheus metrics "
            "(/metrics) and progress (/progress) on status-addr.",
        )

    def _pool_size(self, entry: LoaderEntry) -> None:
        size = self._integer(entry, minimum=1)
        self._put(
            "lightning",
            "region-concurrency",
            size,
            entry,
            "Loader's pool-size counted SQL workers, each loading one whole data file.",
            "region-concurrency counts Lightning's chunk workers (a large file is split into",
            "chunks); its default is the number of CPU cores, which is usually better.",
        )

    # -- [checkpoint] ---------------------------------------------------------------------------

    def _checkpoint_schema(self, entry: LoaderEntry) -> None:
        schema = self._string(entry)
        if not schema:
            raise MigrationError(f"{self.loader.source}: checkpoint-schema is empty")
        self._put(
            "checkpoint",
            "enable",
            True,
            entry,
            "Loader kept its checkpoints in this schema of the target database, so the mysql",
            'driver keeps them there too. Lightning\'s default driver, "file", is faster.',
            "Lightning's checkpoint tables differ from Loader's: an interrupted Loader run",
            "cannot be resumed by Lightning.",
        )
        self._put("checkpoint", "schema", schema, None)
        self._put("checkpoint", "driver", "mysql", None)

    def _rm_checkpoint(self, entry: LoaderEntry) -> None:
        remove = self._boolean(entry)
        self._put(
            "checkpoint",
            "keep-after-success",
            "remove" if remove else "origin",
            entry,
            f"Loader's rm-checkpoint = {str(remove).lower()}: "
            + ("drop" if remove else "keep")
            + " the checkpoints after a successful import.",
        )

    # -- [mydumper] -----------------------------------------------------------------------------

    def _dir(self, entry: LoaderEntry) -> None:
        directory = self._string(entry)
        if not directory:
            raise MigrationError(f"{self.loader.source}: dir is empty")
        trimmed = directory.rstrip("/") or "/"
        self._put("mydumper", "data-source-dir", trimmed, entry)

    def _case_sensitive(self, entry: LoaderEntry) -> None:
        self._put("mydumper", "case-sensitive", self._boolean(entry), entry)

    # -- [tidb] ---------------------------------------------------------------------------------

    def _translate_db(self, entry: LoaderEntry) -> None:
        key = entry.path[1]
        if key not in DB_KEYS:
            self.notes.append(
                MigrationNote(
                    key=entry.key,
                    message=f"Loader's [{entry.path[0]}] has no such key (check the spelling)",
                    unknown=True,
                )
            )
            return
        if key == "port":
            self._put("tidb", "port", self._integer(entry, minimum=1, maximum=65535), entry)
        elif key == "sql-mode":
            mode = self._string(entry)
            if mode == "@DownstreamDefault":
                self._note(
                    entry,
                    "Loader then used the target's global sql_mode; Lightning always sets its "
                    'own [tidb] sql-mode (default "ONLY_FULL_GROUP_BY,NO_AUTO_CREATE_USER"), '
                    "so copy the target's value into [tidb] sql-mode if it matters",
                )
                return
            self._put("tidb", "sql-mode", mode, entry)
        elif key == "max-allowed-packet":
            size = self._integer(entry, minimum=0)
            if size == 0:
                self._note(
                    entry,
                    "0 meant the target's global max_allowed_packet; Lightning's default "
                    "(64 MiB) is used instead",
                )
                return
            self._put("tidb", "max-allowed-packet", size, entry)
        else:
            self._put("tidb", key, self._string(entry), entry)

    # -- [mydumper] filter ----------------------------------------------------------------------

    def _collect_black_white_list(self, entry: LoaderEntry) -> None:
        path = entry.path
        if path == ("black-white-list",):
            raise MigrationError(f"{self.loader.source}: black-white-list must be a table")
        name = _OLD_STYLE_LISTS.get(path[0]) if len(path) == 1 else path[1]
        if len(path) > 2 or name not in BLACK_WHITE_LIST_KEYS:
            self.notes.append(
                MigrationNote(
                    key=entry.key,
                    message="[black-white-list] has do-dbs, ignore-dbs, do-tables and "
                    "ignore-tables only",
                    unknown=True,
                )
            )
            return
        self.bw_entries.append(entry)
        if name in ("do-dbs", "ignore-dbs"):
            names = self._string_list(entry)
            field = "do_dbs" if name == "do-dbs" else "ignore_dbs"
            self.bw = attrs.evolve(self.bw, **{field: (*getattr(self.bw, field), *names)})
        else:
            table = self._table_pattern(entry)
            field = "do_tables" if name == "do-tables" else "ignore_tables"
            self.bw = attrs.evolve(self.bw, **{field: (*getattr(self.bw, field), table)})

    def _table_pattern(self, entry: LoaderEntry) -> TablePattern:
        value = entry.value
        if not isinstance(value, dict) or not isinstance(value.get("db-name"), str):
            raise MigrationError(
                f"{self.loader.source}: each {entry.key} entry needs db-name and tbl-name "
                f"strings, got {value!r}"
            )
        table = value.get("tbl-name", "")
        if not isinstance(table, str):
            raise MigrationError(f"{self.loader.source}: {entry.key} tbl-name must be a string")
        return TablePattern(db=value["db-name"], table=table or "*")

    def _put_filter(self) -> None:
        translation = translate_black_white_list(self.bw)
        for note in translation.notes:
            self.notes.append(MigrationNote(key="black-white-list", message=note))
        if not translation.rules:
            return
        comments: list[str] = []
        for entry in self.bw_entries:
            comments.extend(entry.comments)
        self._put_lines(
            "mydumper",
            [
                *comments,
                MIGRATE + "Loader's black/white list as table-filter rules: the last rule that",
                MIGRATE + "matches a table decides, and a table no rule matches is skipped.",
                *[MIGRATE + note for note in translation.notes],
            ],
        )
        self._section("mydumper").add("filter", _rule_array(translation.rules))

    # -- [[routes]], source-db and alternative-db -----------------------------------------------

    def _route_rule(self, entry: LoaderEntry) -> None:
        value = entry.value
        if not isinstance(value, dict):
            raise MigrationError(f"{self.loader.source}: route-rules must be [[route-rules]]")
        known = {
            "pattern-schema",
            "pattern-table",
            "schema-pattern",
            "table-pattern",
            "target-schema",
            "target-table",
        }
        for extra in sorted(set(value) - known):
            self.notes.append(
                MigrationNote(
                    key=f"route-rules.{extra}",
                    message="route rules have schema-pattern, table-pattern, target-schema "
                    "and target-table only",
                    unknown=True,
                )
            )
        number = len(self.routes) + 1
        schema = value.get("schema-pattern", value.get("pattern-schema", ""))
        target = value.get("target-schema", "")
        if not schema or not target:
            raise MigrationError(
                f"{self.loader.source}: route rule #{number} needs both pattern-schema and "
                f"target-schema (Loader required them too), got {value!r}"
            )
        self.routes.append(
            _Route(
                schema_pattern=str(schema),
                table_pattern=str(value.get("table-pattern", value.get("pattern-table", ""))),
                target_schema=str(target),
                target_table=str(value.get("target-table", "")),
                entry=entry,
            )
        )

    def _source_db(self, entry: LoaderEntry) -> None:
        self._string(entry)
        self.source_db = entry

    def _alternative_db(self, entry: LoaderEntry) -> None:
        self._string(entry)
        self.alternative_db = entry

    def _finish_source_db(self) -> None:
        source = str(self.source_db.value) if self.source_db else ""
        alternative = str(self.alternative_db.value) if self.alternative_db else ""
        if not source:
            if self.alternative_db is not None and alternative:
                self._note(
                    self.alternative_db,
                    "Loader used alternative-db only together with source-db (-s); "
                    "add a [[routes]] rule to rename a schema",
                )
            return
        assert self.source_db is not None
        target = alternative or source
        kept: list[_Route] = []
        for route in self.routes:
            if route.target_schema == source:
                kept.append(attrs.evolve(route, target_schema=target))
            else:
                self.notes.append(
                    MigrationNote(
                        key="route-rules",
                        message=f"rule {route.schema_pattern!r} -> {route.target_schema!r} "
                        f"dropped: with source-db set Loader kept only rules into {source!r}",
                    )
                )
        explain = [
            MIGRATE
            + f"Loader's source-db = {source!r}"
            + (f", alternative-db = {alternative!r}" if alternative else "")
            + f": import {source!r} into {target!r}.",
        ]
        rules = [filter_rule(source)]
        rules.extend(route_filter_rules(route.schema_pattern, "") for route in kept)
        if target != source:
            comments = [*self.source_db.comments, *explain]
            if self.alternative_db is not None:
                comments[:0] = self.alternative_db.comments
            first = _Route(
                schema_pattern=source.lower(),
                table_pattern="",
                target_schema=target,
                target_table="",
                entry=attrs.evolve(self.source_db, comments=tuple(comments)),
            )
            kept.insert(0, first)
        self.routes = kept
        if not self.bw.is_empty():
            self.notes.append(
                MigrationNote(
                    key="source-db",
                    message="Loader also skipped every schema other than "
                    f"{source!r}; the filter comes from the black/white list, so make sure "
                    "it leaves out the other schemas",
                )
            )
            return
        self._put_lines(
            "mydumper",
            [
                *explain,
                MIGRATE + f"Loader skipped every schema that does not end up in {target!r}.",
            ],
        )
        self._section("mydumper").add("filter", _rule_array(tuple(dict.fromkeys(rules))))

    # -- [tikv-importer] ------------------------------------------------------------------------

    def _put_backend(self) -> None:
        self._put_lines(
            "tikv-importer",
            [
                MIGRATE + "Loader wrote rows with SQL statements; so does the TiDB backend.",
                MIGRATE + "Loader ran the dump's INSERT statements, so a duplicate key stopped it;",
                MIGRATE + 'the TiDB backend replaces such rows unless on-duplicate = "error".',
            ],
        )
        self._section("tikv-importer").add("backend", "tidb")

    # -- helpers --------------------------------------------------------------------------------

    def _note(self, entry: LoaderEntry, reason: str) -> None:
        key = entry.key if not entry.flag else f"{entry.key} (flag {entry.flag})"
        note = MigrationNote(key=key, message=reason)
        if note not in self.notes:  # an array of tables gives one entry per element
            self.notes.append(note)

    def _section(self, name: str) -> Table:
        if name not in self.sections:
            self.sections[name] = tomlkit.table()
        return self.sections[name]

    def _put_lines(self, section: str, lines: Sequence[str]) -> None:
        _add_comment_lines(self._section(section), lines)

    def _put(
        self, section: str, key: str, value: Any, entry: LoaderEntry | None, *explain: str
    ) -> None:
        table = self._section(section)
        if key in table:
            raise MigrationError(
                f"{self.loader.source}: two Loader settings map to [{section}] {key}"
            )
        lines: list[str] = []
        if entry is not None:
            if table.value.body and entry.comments and entry.comments[0] != "":
                lines.append("")  # keep comment blocks apart, as in the Loader file
            lines.extend(entry.comments)
            if entry.flag:
                was = ""
                if entry.file_value is not None and entry.path[-1] != "password":
                    was = f" (the file had {entry.file_value!r})"
                lines.append(MIGRATE + f"set by the Loader flag {entry.flag}{was}.")
        lines.extend(MIGRATE + line for line in explain)
        self._put_lines(section, lines)
        item = tomlkit.item(value)
        if entry is not None and entry.inline_comment:
            item.comment(_rename_in_comment(entry.inline_comment))
        table.add(key, item)

    def _string(self, entry: LoaderEntry) -> str:
        if not isinstance(entry.value, str):
            raise MigrationError(
                f"{self.loader.source}: {entry.key} must be a string, got {entry.value!r}"
            )
        return entry.value

    def _string_list(self, entry: LoaderEntry) -> tuple[str, ...]:
        value = entry.value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise MigrationError(
                f"{self.loader.source}: {entry.key} must be a list of names, got {value!r}"
            )
        return tuple(value)

    def _integer(self, entry: LoaderEntry, *, minimum: int, maximum: int | None = None) -> int:
        value = entry.value
        if isinstance(value, bool) or not isinstance(value, int):
            raise MigrationError(
                f"{self.loader.source}: {entry.key} must be an integer, got {value!r}"
            )
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"{minimum}..{maximum}"
            raise MigrationError(f"{self.loader.source}: {entry.key} must be {bounds}, got {value}")
        return value

    def _boolean(self, entry: LoaderEntry) -> bool:
        if not isinstance(entry.value, bool):
            raise MigrationError(
                f"{self.loader.source}: {entry.key} must be true or false, got {entry.value!r}"
            )
        return entry.value

    # -- output ---------------------------------------------------------------------------------

    def _render(self) -> str:
        document = tomlkit.document()
        for line in self._header():
            document.add(tomlkit.nl() if line == "" else tomlkit.comment(line))
        document.add(tomlkit.nl())
        for name in SECTION_ORDER:
            if name in self.sections:
                document.add(name, self.sections[name])
                document.add(tomlkit.nl())
        if self.routes:
            document.add("routes", self._routes_aot())
        if self.loader.trailing_comments:
            for line in self.loader.trailing_comments:
                document.add(
                    tomlkit.nl() if line == "" else tomlkit.comment(_rename_in_comment(line))
                )
        return tomlkit.dumps(document).rstrip("\n") + "\n"

    def _routes_aot(self) -> AoT:
        routes = tomlkit.aot()
        for route in self.routes:
            table = tomlkit.table()
            if route.entry is not None:
                for line in route.entry.comments:
                    table.add(
                        tomlkit.nl() if line == "" else tomlkit.comment(_rename_in_comment(line))
                    )
            table.add("schema-pattern", route.schema_pattern)
            if route.table_pattern:
                table.add("table-pattern", route.table_pattern)
            table.add("target-schema", route.target_schema)
            if route.target_table:
                table.add("target-table", route.target_table)
            routes.append(table)
        return routes

    def _header(self) -> list[str]:
        lines = [
            f"TiDB Lightning configuration written by lightning-migrate-loader {_version()}",
            f"from the Loader configuration {self.loader.source}"
            + (" and the Loader flags:" if self.loader.flags else "."),
        ]
        if self.loader.flags:
            lines.append("  " + " ".join(self.loader.flags))
        lines += [
            "Comments from the Loader file stay above the settings they describe; lines",
            'starting with "migrate:" say where TiDB Lightning differs from Loader.',
        ]
        untranslated = [n for n in self.notes if not n.unknown]
        unknown = [n for n in self.notes if n.unknown]
        if untranslated:
            lines += ["", "Not translated, or translated with a caveat:"]
            lines += [f"  {note.key}: {note.message}" for note in untranslated]
        if unknown:
            lines += ["", "Unknown Loader keys (ignored):"]
            lines += [f"  {note.key}: {note.message}" for note in unknown]
        return lines


_SIMPLE = {
    "log-level": _Converter._log_level,
    "log-file": _Converter._log_file,
    "status-addr": _Converter._status_addr,
    "pprof-addr": _Converter._pprof_addr,
    "pool-size": _Converter._pool_size,
    "checkpoint-schema": _Converter._checkpoint_schema,
    "rm-checkpoint": _Converter._rm_checkpoint,
    "dir": _Converter._dir,
    "case-sensitive": _Converter._case_sensitive,
    "route-rules": _Converter._route_rule,
    "source-db": _Converter._source_db,
    "alternative-db": _Converter._alternative_db,
}
"""Top-level Loader keys and the method that translates each."""

_OLD_STYLE_LISTS = {
    "do-db": "do-dbs",
    "ignore-db": "ignore-dbs",
    "do-table": "do-tables",
    "ignore-table": "ignore-tables",
    "replicate-do-db": "do-dbs",
    "replicate-ignore-db": "ignore-dbs",
    "replicate-do-table": "do-tables",
    "replicate-ignore-table": "ignore-tables",
}
"""Top-level spellings of the black/white lists (older Loader, and Syncer's replicate-*)."""


def _rule_array(rules: Sequence[str]) -> Any:
    array = tomlkit.array()
    array.extend(rules)
    if len(rules) > 3:
        array.multiline(True)
    return array


def _add_comment_lines(container: Any, lines: Sequence[str]) -> None:
    """Add comment lines (``""`` = blank line), renaming Loader's route keys to Lightning's."""
    for line in lines:
        container.add(tomlkit.nl() if line == "" else tomlkit.comment(_rename_in_comment(line)))


def _rename_in_comment(text: str) -> str:
    for old, new in _COMMENT_RENAMES:
        text = text.replace(old, new)
    return text


def _version() -> str:
    try:
        return metadata.version("tidb-lightning-migrate-loader")
    except metadata.PackageNotFoundError:
        return "(not installed)"
