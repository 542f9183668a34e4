"""Find the files of a data source, classify them and group them into target tables.

Every file under ``data-source-dir`` is routed by the first rule that matches its path relative
to the directory (with ``/`` separators): the custom ``[[mydumper.files]]`` rules first, then,
unless ``default-file-rules = false``, the built-in rules for mydumper / dumpling names:

==============================================  ==========================================
``{db}-schema-create.sql``                      CREATE DATABASE (``schema-schema``)
``{db}.{table}-schema.sql``                     CREATE TABLE (``table-schema``)
``{db}.{table}-schema-view.sql``                CREATE VIEW (``view-schema``)
``{db}.{table}.{seq}.{sql|csv|parquet}``        data; ``.{seq}`` is optional
``{db}.{table}.{seq}.{codec}.parquet``          parquet with internal compression
``*-schema-trigger(s).sql``, ``*-schema-post.sql``, ``metadata``, ``*.bak``   ignored
==============================================  ==========================================

SQL and CSV files (and schema files) may end in ``.gz``, ``.gzip``, ``.zst``, ``.zstd`` or
``.snappy``; the first bytes of each compressed file that is imported are checked. A compression
we cannot read (``.lzo``, ``.lz4``, ``.xz``, ...) is an error only for a file that is imported.
Names in built-in rules are percent-decoded (dumpling writes ``%2F`` for ``/`` and so on).
Then ``[mydumper] filter`` is applied to the source names and ``[[routes]]`` maps them to the
target names. A file that no rule matches is reported in :attr:`SourcePlan.unmatched`.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence

import attrs

from lightning_core.config import FileRule, MydumperConfig, RouteRule
from lightning_core.errors import ConfigError, SourceError
from lightning_core.interfaces import FileKind, SourceFile
from lightning_core.source.compression import COMPRESSIONS, header_problem
from lightning_core.source.routes import Router
from lightning_core.source.table_filter import TableFilter

# --- plans -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TablePlan:
    """One target table (or view) and the source files that feed it."""

    target_schema: str
    target_table: str
    sources: tuple[tuple[str, str], ...]
    """Source (schema, table) pairs merged into this target (several when shards are routed)."""
    schema_file: SourceFile | None
    """The CREATE TABLE (or CREATE VIEW) file, from the first source that has one; its
    statement names the source table, not the target."""
    data_files: tuple[SourceFile, ...]
    """Sorted by (source schema, source table, sequence number, path)."""
    is_view: bool = False

    @property
    def total_size(self) -> int:
        """Bytes on disk of all data files."""
        return sum(f.size for f in self.data_files)


@attrs.frozen(kw_only=True)
class SourcePlan:
    """Everything found in a data source, grouped by target schema and table."""

    data_source_dir: str
    schemas: tuple[tuple[str, SourceFile | None], ...]
    """Target schema names, sorted, each with a CREATE DATABASE file routed to it (or None)."""
    tables: tuple[TablePlan, ...]
    """Sorted by target (schema, table); views have ``is_view=True`` and no data files."""
    ignored: tuple[str, ...]
    """Relative paths deliberately skipped: files of known kinds Lightning does not import
    (triggers, metadata, backups), ``type = "ignore"`` rules, and CREATE TABLE placeholders
    that dumpling writes next to a view's definition."""
    unmatched: tuple[str, ...]
    """Relative paths that no file rule matched."""
    filtered: tuple[str, ...] = ()
    """Relative paths of schemas and tables excluded by ``[mydumper] filter``."""


# --- file rules --------------------------------------------------------------------------------

_TYPE_KINDS: dict[str, tuple[FileKind, str | None]] = {
    FileKind.SCHEMA_CREATE.value: (FileKind.SCHEMA_CREATE, None),
    FileKind.TABLE_SCHEMA.value: (FileKind.TABLE_SCHEMA, None),
    FileKind.VIEW_SCHEMA.value: (FileKind.VIEW_SCHEMA, None),
    "sql": (FileKind.DATA, "sql"),
    "csv": (FileKind.DATA, "csv"),
    "parquet": (FileKind.DATA, "parquet"),
}
_IGNORE = "ignore"

# Compression formats other tools write that we cannot read: matched, then refused clearly.
_UNSUPPORTED_COMPRESSIONS = frozenset({"lz4", "xz", "lzo", "bz2", "bzip2"})

_TEMPLATE_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


@attrs.frozen
class _CompiledFileRule:
    regex: re.Pattern[str]
    rule: FileRule
    where: str
    """``[[mydumper.files]] #n`` or ``default rule``, for messages."""
    unescape: bool = False
    kinds: dict[str, tuple[FileKind, str | None]] = _TYPE_KINDS
    """The types this rule may give: the built-in ones plus formats reader plugins add."""

    def expand(self, match: re.Match[str], template: str) -> str:
        """Substitute ``$1``, ``$name``, ``${name}`` and ``$$`` in a template."""

        def substitute(var: re.Match[str]) -> str:
            if var.group(1):
                return "$"
            name = var.group(2) or var.group(3)
            group: int | str = int(name) if name.isdigit() else name
            return match.group(group) or ""

        return _TEMPLATE_VARIABLE.sub(substitute, template)


def _check_template(regex: re.Pattern[str], template: str, field: str, where: str) -> None:
    for var in _TEMPLATE_VARIABLE.finditer(template):
        if var.group(1):
            continue
        name = var.group(2) or var.group(3)
        if name.isdigit():
            if int(name) > regex.groups:
                raise ConfigError(
                    f"{where}: {field} refers to ${name}, but the pattern has only "
                    f"{regex.groups} capture group(s)"
                )
        elif name not in regex.groupindex:
            raise ConfigError(f"{where}: {field} refers to ${{{name}}}, a group the pattern lacks")


def _literal_path_rule(rule: FileRule, where: str, root: str) -> FileRule:
    """Turn a ``path = ...`` rule into a pattern rule matching exactly that file."""
    if rule.pattern:
        raise ConfigError(f"{where}: set either pattern or path, not both")
    path = rule.path
    if os.path.isabs(path):
        path = os.path.relpath(path, root)
    path = path.replace(os.sep, "/").removeprefix("./")

    def literal(template: str) -> str:
        return template.replace("$", "$$")

    return FileRule(
        pattern="^" + re.escape(path) + "$",
        schema=literal(rule.schema),
        table=literal(rule.table),
        type=literal(rule.type),
        key=literal(rule.key),
        compression=literal(rule.compression),
    )


def _compile_file_rule(
    rule: FileRule,
    where: str,
    unescape: bool = False,
    root: str = "",
    kinds: dict[str, tuple[FileKind, str | None]] = _TYPE_KINDS,
) -> _CompiledFileRule:
    if rule.path:
        rule = _literal_path_rule(rule, where, root)
    if not rule.pattern:
        raise ConfigError(f"{where}: pattern and path are empty; set one of them")
    # Go's RE2 accepts ``(?<name>...)``; Python 3.11 wants ``(?P<name>...)``.
    source = re.sub(r"\(\?<(?![=!])", "(?P<", rule.pattern)
    try:
        regex = re.compile(source)
    except re.error as exc:
        raise ConfigError(f"{where}: invalid pattern {rule.pattern!r}: {exc}") from exc
    known = ", ".join([*kinds, _IGNORE])
    if not rule.type:
        raise ConfigError(f"{where}: type is empty; use one of {known}")
    literal_type = rule.type.strip().lower() if "$" not in rule.type else None
    if literal_type is not None and literal_type not in kinds and literal_type != _IGNORE:
        raise ConfigError(f"{where}: unknown type {rule.type!r}; use one of {known}")
    fields = {"type": rule.type}
    if literal_type != _IGNORE:
        if not rule.schema:
            raise ConfigError(f"{where}: schema is empty; say which capture names the schema")
        if literal_type != FileKind.SCHEMA_CREATE.value and not rule.table:
            raise ConfigError(f"{where}: table is empty; say which capture names the table")
        fields |= {
            "schema": rule.schema,
            "table": rule.table,
            "key": rule.key,
            "compression": rule.compression,
        }
    for field, template in fields.items():
        _check_template(regex, template, field, where)
    return _CompiledFileRule(regex, rule, where, unescape, kinds)


def _default_rules() -> tuple[_CompiledFileRule, ...]:
    """The built-in rules for mydumper / dumpling output, tried in this order."""
    prefix = r"(?i)^(?:[^/]*/)*"  # any directories
    compressed = r"(?:\.(\w+?))?$"  # an optional compression suffix
    rules = [
        # Triggers, routines and other post-data statements: known, not imported.
        FileRule(
            pattern=prefix + r"[^/]*-schema-(?:triggers?|post)\.sql" + compressed, type=_IGNORE
        ),
        # mydumper's dump metadata (``metadata``, ``metadata.partial``, ``db.t-metadata``).
        FileRule(pattern=prefix + r"(?:[^/]*-)?metadata(?:\.partial)?$", type=_IGNORE),
        # Backups of data or schema files.
        FileRule(pattern=prefix + r"[^/]*\.(?:sql|csv|parquet)(?:\.\w+)?\.bak$", type=_IGNORE),
        FileRule(
            pattern=prefix + r"([^/.]+)-schema-create\.sql" + compressed,
            schema="$1",
            type=FileKind.SCHEMA_CREATE.value,
            compression="$2",
        ),
        FileRule(
            pattern=prefix + r"([^/.]+)\.([^/]*?)-schema\.sql" + compressed,
            schema="$1",
            table="$2",
            type=FileKind.TABLE_SCHEMA.value,
            compression="$3",
        ),
        FileRule(
            pattern=prefix + r"([^/.]+)\.([^/]*?)-schema-view\.sql" + compressed,
            schema="$1",
            table="$2",
            type=FileKind.VIEW_SCHEMA.value,
            compression="$3",
        ),
        # Parquet compresses inside the file; the codec in the name is informational.
        FileRule(
            pattern=prefix + r"([^/.]+)\.([^/]*)\.(\d+)\.(?:snappy|gzip|gz|zstd|zst)\.parquet$",
            schema="$1",
            table="$2",
            type="parquet",
            key="$3",
        ),
        FileRule(
            pattern=prefix + r"([^/.]+)\.([^/]*?)(?:\.(\d+))?\.(sql|csv|parquet)(?:\.(\w+))?$",
            schema="$1",
            table="$2",
            type="$4",
            key="$3",
            compression="$5",
        ),
    ]
    return tuple(_compile_file_rule(rule, "built-in file rule", unescape=True) for rule in rules)


_DEFAULT_RULES = _default_rules()


@attrs.frozen
class _Routed:
    """What a file rule said about one file."""

    kind: FileKind | None
    """None: deliberately ignored."""
    schema: str = ""
    table: str = ""
    format: str | None = None
    compression: str | None = None
    key: str = ""


class _NoRule(Exception):
    """A file matched a rule whose result we cannot use; it is reported as unmatched."""


def _unescape(name: str) -> str:
    """Percent-decode a name; a malformed escape leaves the name as written."""
    if "%" not in name:
        return name
    if re.search(r"%(?![0-9A-Fa-f]{2})", name):
        return name
    try:
        return urllib.parse.unquote(name, errors="strict")
    except UnicodeDecodeError:
        return name


def _compression_of(value: str, where: str) -> str | None:
    value = value.strip().lower()
    if not value:
        return None
    name = COMPRESSIONS.get("." + value)
    if name is not None:
        return name
    if value in _UNSUPPORTED_COMPRESSIONS:
        return value  # refused by _check_compression if the file is imported
    raise _NoRule(f"{where}: unknown compression {value!r}")


def _apply_rule(rule: _CompiledFileRule, match: re.Match[str], rel: str, path: str) -> _Routed:
    type_name = rule.expand(match, rule.rule.type).strip().lower()
    if type_name == _IGNORE:
        return _Routed(kind=None)
    if type_name not in rule.kinds:
        known = ", ".join([*rule.kinds, _IGNORE])
        raise ConfigError(f"{rule.where}: {rel} gives type {type_name!r}; use one of {known}")
    kind, fmt = rule.kinds[type_name]
    schema = rule.expand(match, rule.rule.schema)
    table = "" if kind is FileKind.SCHEMA_CREATE else rule.expand(match, rule.rule.table)
    if rule.unescape:
        schema, table = _unescape(schema), _unescape(table)
    if not schema or (kind is not FileKind.SCHEMA_CREATE and not table):
        raise ConfigError(f"{rule.where}: {rel} gives an empty schema or table name")
    compression = _compression_of(rule.expand(match, rule.rule.compression), rule.where)
    if compression is None and not rule.rule.compression:
        # A custom rule that says nothing about compression: trust the file name.
        compression = COMPRESSIONS.get(os.path.splitext(rel)[1].lower())
    if fmt == "parquet" and compression is not None:
        raise SourceError(
            path, 0, "a compressed parquet file cannot be read; parquet compresses internally"
        )
    return _Routed(
        kind=kind,
        schema=schema,
        table=table,
        format=fmt,
        compression=compression,
        key=rule.expand(match, rule.rule.key),
    )


def _check_compression(file: SourceFile) -> None:
    """Refuse an imported file whose compression we cannot read or whose header is wrong."""
    if file.compression is None:
        return
    if file.compression in _UNSUPPORTED_COMPRESSIONS:
        raise SourceError(
            file.path,
            0,
            f"{file.compression} compression is not supported; decompress the file, "
            "recompress it with gzip, zstd or snappy, or exclude its table with [mydumper] filter",
        )
    problem = header_problem(file.path, file.compression)
    if problem is not None:
        raise SourceError(file.path, 0, problem)


def _route_file(rules: Sequence[_CompiledFileRule], rel: str, path: str) -> _Routed | None:
    """Route one relative path by the first matching rule; None when no rule matches."""
    for rule in rules:
        match = rule.regex.search(rel)
        if match is None:
            continue
        try:
            return _apply_rule(rule, match, rel, path)
        except _NoRule:
            return None
    return None


def _walk(root: str) -> Iterator[tuple[str, str, int]]:
    """Yield (relative path with ``/``, absolute path, size) for every file, sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                size = os.stat(path).st_size
            except OSError as exc:
                raise SourceError(path, 0, f"cannot read: {exc.strerror or exc}") from exc
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            yield rel, os.path.abspath(path), size


# --- grouping ----------------------------------------------------------------------------------


def _sort_key_order(key: str) -> tuple[bool, int, str]:
    """Order sequence numbers numerically (``2`` before ``10``) and anything else after."""
    return (not key.isdigit(), int(key) if key.isdigit() else 0, key)


def _data_order(f: SourceFile) -> tuple[str, str, tuple[bool, int, str], str]:
    return (f.schema, f.table or "", _sort_key_order(f.sort_key), f.path)


@attrs.define
class _TableBuilder:
    sources: list[tuple[str, str]] = attrs.Factory(list)
    schema_files: list[SourceFile] = attrs.Factory(list)
    data_files: list[SourceFile] = attrs.Factory(list)
    view_files: list[SourceFile] = attrs.Factory(list)


def discover(
    mydumper: MydumperConfig, routes: Sequence[RouteRule] = (), formats: Iterable[str] = ()
) -> SourcePlan:
    """Walk ``data-source-dir`` and plan which files feed which target schema and table.

    ``formats`` names data formats that reader plugins add; ``[[mydumper.files]]`` rules may
    give them as their ``type``.

    :raises ConfigError: the directory is missing, or a file rule, filter or route is invalid.
    :raises SourceError: a file cannot be used as its name says (unsupported compression, a
        second CREATE TABLE for the same table, data for a view).
    """
    root = mydumper.data_source_dir
    if not root or not os.path.isdir(root):
        shown = repr(root) if root else "(empty)"
        raise ConfigError(
            f"[mydumper] data-source-dir: {shown} is not a directory; "
            "set it (or -d) to the directory holding the dump"
        )
    kinds = _TYPE_KINDS | {f: (FileKind.DATA, f) for f in formats if f not in _TYPE_KINDS}
    rules = [
        _compile_file_rule(rule, f"[[mydumper.files]] #{i + 1}", root=root, kinds=kinds)
        for i, rule in enumerate(mydumper.files)
    ]
    if mydumper.default_file_rules:
        rules.extend(_DEFAULT_RULES)
    table_filter = TableFilter.parse(mydumper.filter, mydumper.case_sensitive)
    router = Router.from_rules(routes, mydumper.case_sensitive)

    ignored: list[str] = []
    unmatched: list[str] = []
    filtered: list[str] = []
    schema_creates: dict[str, SourceFile] = {}
    by_source: dict[tuple[str, str], _TableBuilder] = {}
    for rel, path, size in _walk(root):
        routed = _route_file(rules, rel, path)
        if routed is None:
            unmatched.append(rel)
            continue
        if routed.kind is None:
            ignored.append(rel)
            continue
        source_file = SourceFile(
            path=path,
            schema=routed.schema,
            table=routed.table or None,
            kind=routed.kind,
            format=routed.format,
            compression=routed.compression,
            sort_key=routed.key,
            size=size,
        )
        if routed.kind is FileKind.SCHEMA_CREATE:
            if not table_filter.match_schema(routed.schema):
                filtered.append(rel)
                continue
            _check_compression(source_file)
            earlier = schema_creates.setdefault(routed.schema, source_file)
            if earlier is not source_file:
                raise SourceError(
                    path,
                    0,
                    f"a second CREATE DATABASE file for `{routed.schema}` "
                    f"(the first is {earlier.path}); remove one or fix [[mydumper.files]]",
                )
            continue
        if not table_filter.match_table(routed.schema, routed.table):
            filtered.append(rel)
            continue
        _check_compression(source_file)
        builder = by_source.setdefault((routed.schema, routed.table), _TableBuilder())
        if routed.kind is FileKind.TABLE_SCHEMA:
            builder.schema_files.append(source_file)
        elif routed.kind is FileKind.VIEW_SCHEMA:
            builder.view_files.append(source_file)
        else:
            builder.data_files.append(source_file)

    tables = _group_tables(by_source, router, root, ignored, mydumper.case_sensitive)
    schemas = _collect_schemas(schema_creates, tables, router)
    return SourcePlan(
        data_source_dir=root,
        schemas=schemas,
        tables=tables,
        ignored=tuple(sorted(ignored)),
        unmatched=tuple(unmatched),
        filtered=tuple(filtered),
    )


def _only_one(files: list[SourceFile], what: str, schema: str, table: str) -> SourceFile | None:
    if len(files) > 1:
        raise SourceError(
            files[1].path,
            0,
            f"a second {what} file for `{schema}`.`{table}` (the first is "
            f"{files[0].path}); remove one or fix [[mydumper.files]]",
        )
    return files[0] if files else None


def _group_tables(
    by_source: dict[tuple[str, str], _TableBuilder],
    router: Router,
    root: str,
    ignored: list[str],
    case_sensitive: bool = False,
) -> tuple[TablePlan, ...]:
    # Without case-sensitive, `DB`.`T` and `db`.`t` are one target (MySQL names ignore case on
    # TiDB); the first spelling met names it.
    spelling: dict[tuple[str, str], tuple[str, str]] = {}
    targets: dict[tuple[str, str], _TableBuilder] = {}
    views: dict[tuple[str, str], TablePlan] = {}
    for (schema, table), builder in sorted(by_source.items()):
        routed = router.route(schema, table)
        key = routed if case_sensitive else (routed[0].lower(), routed[1].lower())
        target = spelling.setdefault(key, routed)
        schema_file = _only_one(builder.schema_files, "CREATE TABLE", schema, table)
        view_file = _only_one(builder.view_files, "CREATE VIEW", schema, table)
        if view_file is not None:
            if builder.data_files:
                raise SourceError(
                    builder.data_files[0].path,
                    0,
                    f"`{schema}`.`{table}` is a view (see {view_file.path}) but has data files; "
                    "remove them or the view definition",
                )
            if key in views or key in targets:
                raise SourceError(
                    view_file.path,
                    0,
                    f"view `{schema}`.`{table}` is routed to `{target[0]}`.`{target[1]}`, which "
                    "another view or table already uses; fix [[routes]]",
                )
            if schema_file is not None:
                # dumpling writes a placeholder CREATE TABLE next to each view's definition.
                ignored.append(os.path.relpath(schema_file.path, root).replace(os.sep, "/"))
            views[key] = TablePlan(
                target_schema=target[0],
                target_table=target[1],
                sources=((schema, table),),
                schema_file=view_file,
                data_files=(),
                is_view=True,
            )
            continue
        if key in views:
            raise SourceError(
                (schema_file or builder.data_files[0]).path,
                0,
                f"`{schema}`.`{table}` is routed to `{target[0]}`.`{target[1]}`, which is a "
                "view; fix [[routes]]",
            )
        merged = targets.setdefault(key, _TableBuilder())
        merged.sources.append((schema, table))
        if schema_file is not None:
            merged.schema_files.append(schema_file)
        merged.data_files.extend(builder.data_files)

    plans = [
        TablePlan(
            target_schema=spelling[key][0],
            target_table=spelling[key][1],
            sources=tuple(merged.sources),
            schema_file=merged.schema_files[0] if merged.schema_files else None,
            data_files=tuple(sorted(merged.data_files, key=_data_order)),
        )
        for key, merged in targets.items()
    ]
    plans.extend(views.values())
    plans.sort(key=lambda p: (p.target_schema, p.target_table))
    return tuple(plans)


def _collect_schemas(
    schema_creates: dict[str, SourceFile],
    tables: tuple[TablePlan, ...],
    router: Router,
) -> tuple[tuple[str, SourceFile | None], ...]:
    """Target schemas: those of the tables plus those CREATE DATABASE files are routed to."""
    files: dict[str, SourceFile | None] = {}
    targets = {schema: router.route_schema(schema) for schema in sorted(schema_creates)}
    # A target's own CREATE DATABASE file wins over those of schemas routed into it.
    for schema, target in targets.items():
        if schema == target:
            files[target] = schema_creates[schema]
    for schema, target in targets.items():
        files.setdefault(target, schema_creates[schema])
    for plan in tables:
        if plan.target_schema in files:
            continue
        # A schema reached only through table routes borrows a source schema's file.
        files[plan.target_schema] = next(
            (schema_creates[s] for s, _ in plan.sources if s in schema_creates), None
        )
    return tuple(sorted(files.items()))


__all__ = ["SourcePlan", "TablePlan", "discover"]
