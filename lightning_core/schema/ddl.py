"""Build a :class:`~.model.TableInfo` from a ``CREATE TABLE`` statement.

The statement's structure is parsed by sqlglot's MySQL dialect. Before that, a small lexical
pass (which respects strings, quoted names and comments) does what sqlglot cannot:

* it finds the ``CREATE TABLE`` among the other statements of a mydumper/dumpling schema file
  (``/*!40101 SET NAMES binary*/;`` and the like);
* it opens MySQL version comments ``/*!40101 … */`` and TiDB feature comments
  ``/*T![clustered_index] CLUSTERED */`` so their content counts, and drops plain comments;
* it takes out the TiDB-only words (``CLUSTERED``/``NONCLUSTERED``, ``AUTO_RANDOM(n)``,
  ``SHARD_ROW_ID_BITS=n``, ``PRE_SPLIT_REGIONS=n``, ``AUTO_ID_CACHE``, ``AUTO_RANDOM_BASE``,
  ``PLACEMENT POLICY``) and records them, leaving a column marker where position matters;
* it spells MySQL type synonyms sqlglot reads differently (``REAL``, ``INT8``, ``LONG``,
  ``MIDDLEINT``, unsigned ``FLOAT``) in their canonical form.

Index IDs follow TiDB: table-level keys in order, then keys declared inline on columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import attrs
import sqlglot
from sqlglot import exp

from lightning_core.errors import LightningError, SchemaError
from lightning_core.schema.convert import field_converter
from lightning_core.schema.model import (
    ColumnInfo,
    ColumnType,
    FieldType,
    IndexColumn,
    IndexInfo,
    TableInfo,
)

# --- lexical pass -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<ident>`(?:[^`]|``)*`)
  | (?P<vcomment>/\*!\d*|/\*T!(?:\[[\w,\s]*\])?)
  | (?P<comment>/\*.*?\*/|(?:--(?=\s)|\#)[^\n]*)
  | (?P<close>\*/)
  | (?P<word>[A-Za-z0-9_$]+)
  | (?P<space>\s+)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_MARK = "\x01lightning:"
_UNSIGNED_MARK = f"{_MARK}unsigned"
_TYPE_SYNONYMS = {
    "REAL": "DOUBLE",
    "INT8": "BIGINT",
    "INT3": "MEDIUMINT",
    "MIDDLEINT": "MEDIUMINT",
    "NCHAR": "CHAR",
    "NVARCHAR": "VARCHAR",
}
_TABLE_OPTIONS = ("SHARD_ROW_ID_BITS", "PRE_SPLIT_REGIONS", "AUTO_ID_CACHE", "AUTO_RANDOM_BASE")


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs; comment openers are dropped and their content kept."""
    depth = 0
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        assert kind is not None
        text = match.group()
        if kind == "vcomment":
            depth += 1
            continue
        if kind == "close" and depth:
            depth -= 1
            continue
        if kind == "comment":
            yield "space", " "
            continue
        yield kind, text


def _statements(sql: str) -> Iterator[list[tuple[str, str]]]:
    statement: list[tuple[str, str]] = []
    for token in _tokens(sql):
        if token == ("punct", ";"):
            yield statement
            statement = []
        else:
            statement.append(token)
    yield statement


def _words(statement: list[tuple[str, str]], count: int) -> list[str]:
    return [text.upper() for kind, text in statement if kind == "word"][:count]


class _TidbOptions:
    """What the lexical pass took out of the statement."""

    def __init__(self) -> None:
        self.clustered: bool | None = None
        self.table_options: dict[str, int] = {}


def _rewrite(statement: list[tuple[str, str]], found: _TidbOptions) -> str:
    """The statement as sqlglot can read it, with TiDB-only words recorded in ``found``."""
    out: list[str] = []
    words = [(i, text.upper()) for i, (kind, text) in enumerate(statement) if kind == "word"]
    position = {index: n for n, (index, _) in enumerate(words)}
    skip_until = -1

    def following(index: int, n: int) -> list[tuple[int, str]]:
        """The ``n`` significant tokens after ``index``."""
        result = []
        for j in range(index + 1, len(statement)):
            kind, text = statement[j]
            if kind != "space":
                result.append((j, text.upper()))
                if len(result) == n:
                    break
        return result

    for i, (kind, text) in enumerate(statement):
        if i <= skip_until:
            continue
        if kind != "word":
            out.append(text)
            continue
        upper = text.upper()
        if upper in ("CLUSTERED", "NONCLUSTERED"):
            found.clustered = upper == "CLUSTERED"
            continue
        if upper == "AUTO_RANDOM":
            args = following(i, 6)
            if not args or args[0][1] != "(":
                raise SchemaError("AUTO_RANDOM must be written AUTO_RANDOM(shard_bits[, range])")
            numbers = []
            for j, token in args[1:]:
                if token == ")":
                    skip_until = j
                    break
                if token.isdigit():
                    numbers.append(int(token))
            out.append(f"COMMENT '{_MARK}auto_random={numbers[0] if numbers else 5}'")
            continue
        if upper in _TABLE_OPTIONS:
            args = following(i, 2)
            value = args[1] if args and args[0][1] == "=" else args[0] if args else None
            if value is None or not value[1].isdigit():
                raise SchemaError(f"table option {upper} needs a number")
            found.table_options[upper] = int(value[1])
            skip_until = value[0]
            continue
        if upper == "PLACEMENT":
            args = following(i, 3)
            if args and args[0][1] == "POLICY":
                skip_until = args[2][0] if len(args) == 3 and args[1][1] == "=" else args[1][0]
                continue
        if upper in _TYPE_SYNONYMS:
            out.append(_TYPE_SYNONYMS[upper])
            continue
        if upper == "NATIONAL":
            continue
        if upper == "LONG":
            nxt = following(i, 1)
            if nxt and nxt[0][1] == "VARBINARY":
                out.append("MEDIUMBLOB")
                skip_until = nxt[0][0]
            else:
                out.append("MEDIUMTEXT")
                if nxt and nxt[0][1] == "VARCHAR":
                    skip_until = nxt[0][0]
            continue
        if upper == "UNSIGNED" and position[i] > 0:
            # sqlglot cannot read FLOAT ... UNSIGNED; keep the fact as a column marker.
            j = position[i] - 1
            previous = words[j][1]
            if previous.isdigit() and j > 0:
                previous = words[j - 1][1] if not words[j - 1][1].isdigit() else words[j - 2][1]
            if previous in ("FLOAT", "FLOAT4"):
                out.append(f"COMMENT '{_UNSIGNED_MARK}'")
                continue
        out.append(text)
    return "".join(out)


# --- types ------------------------------------------------------------------------------------

_DT = exp.DataType.Type
_INTEGERS = {
    _DT.TINYINT: (ColumnType.TINY, False, 4),
    _DT.UTINYINT: (ColumnType.TINY, True, 3),
    _DT.SMALLINT: (ColumnType.SHORT, False, 6),
    _DT.USMALLINT: (ColumnType.SHORT, True, 5),
    _DT.MEDIUMINT: (ColumnType.INT24, False, 9),
    _DT.UMEDIUMINT: (ColumnType.INT24, True, 8),
    _DT.INT: (ColumnType.LONG, False, 11),
    _DT.UINT: (ColumnType.LONG, True, 10),
    _DT.BIGINT: (ColumnType.LONGLONG, False, 20),
    _DT.UBIGINT: (ColumnType.LONGLONG, True, 20),
}
_BLOBS = {
    _DT.TINYBLOB: ColumnType.TINY_BLOB,
    _DT.TINYTEXT: ColumnType.TINY_BLOB,
    _DT.BLOB: ColumnType.BLOB,
    _DT.TEXT: ColumnType.BLOB,
    _DT.MEDIUMBLOB: ColumnType.MEDIUM_BLOB,
    _DT.MEDIUMTEXT: ColumnType.MEDIUM_BLOB,
    _DT.LONGBLOB: ColumnType.LONG_BLOB,
    _DT.LONGTEXT: ColumnType.LONG_BLOB,
}
_BINARY_TYPES = {_DT.BINARY, _DT.VARBINARY, _DT.TINYBLOB, _DT.BLOB, _DT.MEDIUMBLOB, _DT.LONGBLOB}
_BLOB_SIZES = {
    ColumnType.TINY_BLOB: 255,
    ColumnType.BLOB: 65535,
    ColumnType.MEDIUM_BLOB: 16777215,
    ColumnType.LONG_BLOB: 4294967295,
}
_MAX_BYTES_PER_CHAR = {"utf8mb4": 4, "utf8": 3, "utf8mb3": 3, "gbk": 2}
_DEFAULT_COLLATIONS = {
    "utf8mb4": "utf8mb4_bin",
    "utf8": "utf8_bin",
    "utf8mb3": "utf8_bin",
    "latin1": "latin1_bin",
    "ascii": "ascii_bin",
    "binary": "binary",
    "gbk": "gbk_chinese_ci",
}


def _charset_of_collation(collation: str) -> str:
    return "binary" if collation == "binary" else collation.split("_", 1)[0]


def _default_collation(charset: str) -> str:
    return _DEFAULT_COLLATIONS.get(charset, f"{charset}_bin")


def _params(kind: exp.DataType) -> list[int]:
    values = []
    for param in kind.expressions:
        node = param.this if isinstance(param, exp.DataTypeParam) else param
        values.append(int(node.name))
    return values


def _field_type(
    kind: exp.DataType,
    constraints: list[exp.ColumnConstraint],
    table_charset: str,
    table_collation: str,
) -> FieldType:
    dt = kind.this
    params = _params(kind) if dt not in (_DT.ENUM, _DT.SET) else []
    charset: str | None = None
    collation: str | None = None
    binary_attr = zerofill = unsigned_mark = False
    for constraint in constraints:
        ck = constraint.kind
        if isinstance(ck, exp.CharacterSetColumnConstraint):
            charset = ck.this.name.lower()
        elif isinstance(ck, exp.CollateColumnConstraint):
            collation = ck.this.name.lower()
        elif isinstance(ck, exp.BinaryColumnConstraint):
            binary_attr = True
        elif isinstance(ck, exp.ZeroFillColumnConstraint):
            zerofill = True
        elif isinstance(ck, exp.CommentColumnConstraint) and ck.this.name == _UNSIGNED_MARK:
            unsigned_mark = True

    def number(index: int, default: int) -> int:
        return params[index] if len(params) > index else default

    if dt in _INTEGERS:
        tp, unsigned, width = _INTEGERS[dt]
        return FieldType(
            tp=tp,
            flen=number(0, width),
            decimal=0,
            unsigned=unsigned or zerofill,
            zerofill=zerofill,
        )
    if dt in (_DT.BOOLEAN, _DT.SERIAL):
        is_bool = dt == _DT.BOOLEAN
        return FieldType(
            tp=ColumnType.TINY if is_bool else ColumnType.LONGLONG,
            flen=1 if is_bool else 20,
            decimal=0,
            unsigned=not is_bool,
        )
    if dt in (_DT.FLOAT, _DT.DOUBLE, _DT.UDOUBLE):
        unsigned = dt == _DT.UDOUBLE or unsigned_mark or zerofill
        if dt == _DT.FLOAT and len(params) == 1:
            # FLOAT(p): the precision in bits picks single or double precision.
            tp = ColumnType.FLOAT if params[0] <= 24 else ColumnType.DOUBLE
            return FieldType(tp=tp, unsigned=unsigned, zerofill=zerofill)
        tp = ColumnType.FLOAT if dt == _DT.FLOAT else ColumnType.DOUBLE
        flen, decimal = (params[0], params[1]) if len(params) == 2 else (-1, -1)
        if flen < 0:
            flen = 12 if tp == ColumnType.FLOAT else 22
        return FieldType(tp=tp, flen=flen, decimal=decimal, unsigned=unsigned, zerofill=zerofill)
    if dt in (_DT.DECIMAL, _DT.UDECIMAL):
        return FieldType(
            tp=ColumnType.NEWDECIMAL,
            flen=number(0, 10),
            decimal=number(1, 0),
            unsigned=dt == _DT.UDECIMAL or zerofill,
            zerofill=zerofill,
        )
    if dt == _DT.DATE:
        return FieldType(tp=ColumnType.DATE, flen=10, decimal=0)
    if dt in (_DT.DATETIME, _DT.TIMESTAMP, _DT.TIMESTAMPTZ, _DT.TIME):
        fsp = number(0, 0)
        tp = {
            _DT.DATETIME: ColumnType.DATETIME,
            _DT.TIME: ColumnType.DURATION,
        }.get(dt, ColumnType.TIMESTAMP)
        base = 10 if tp == ColumnType.DURATION else 19
        return FieldType(tp=tp, flen=base + (fsp + 1 if fsp else 0), decimal=fsp)
    if dt == _DT.YEAR:
        return FieldType(tp=ColumnType.YEAR, flen=4, decimal=0, unsigned=True, zerofill=True)
    if dt == _DT.BIT:
        return FieldType(tp=ColumnType.BIT, flen=number(0, 1), decimal=0, unsigned=True)
    if dt == _DT.JSON:
        return FieldType(tp=ColumnType.JSON, flen=4294967295, decimal=0)
    if dt == _DT.GEOMETRY:
        raise SchemaError("spatial (GEOMETRY) columns are not supported")

    # Character types: settle the charset and collation as MySQL does.
    if dt in _BINARY_TYPES or charset == "binary":
        charset = collation = "binary"
    elif charset is None and collation is None:
        charset, collation = table_charset, table_collation
    elif charset is None:
        assert collation is not None
        charset = _charset_of_collation(collation)
    elif collation is None:
        collation = _default_collation(charset)
    if binary_attr and charset != "binary":
        collation = f"{charset}_bin"
    assert charset is not None and collation is not None
    binary = charset == "binary"

    if dt in (_DT.ENUM, _DT.SET):
        elems = tuple(literal.name for literal in kind.expressions)
        tp = ColumnType.ENUM if dt == _DT.ENUM else ColumnType.SET
        return FieldType(tp=tp, charset=charset, collation=collation, elems=elems)
    if dt in (_DT.CHAR, _DT.NCHAR, _DT.BINARY):
        return FieldType(
            tp=ColumnType.STRING, flen=number(0, 1), charset=charset, collation=collation
        )
    if dt in (_DT.VARCHAR, _DT.NVARCHAR, _DT.VARBINARY):
        if not params:
            raise SchemaError("VARCHAR and VARBINARY need a length")
        return FieldType(
            tp=ColumnType.VARCHAR, flen=params[0], charset=charset, collation=collation
        )
    if dt in _BLOBS:
        tp = _BLOBS[dt]
        if params and dt in (_DT.TEXT, _DT.BLOB):
            # TEXT(n) / BLOB(n) picks the smallest type that holds n characters.
            size = params[0] * (1 if binary else _MAX_BYTES_PER_CHAR.get(charset, 1))
            tp = next(t for t, limit in _BLOB_SIZES.items() if size <= limit)
        return FieldType(tp=tp, flen=_BLOB_SIZES[tp], charset=charset, collation=collation)
    raise SchemaError(f"column type {kind.sql(dialect='mysql')} is not supported")


# --- defaults ---------------------------------------------------------------------------------


def _literal_value(node: exp.Expression) -> object:
    """The source value of a DEFAULT literal, or raise ValueError if it is an expression."""
    if isinstance(node, exp.Paren):
        return _literal_value(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return int(node.this)
    if isinstance(node, exp.Neg):
        inner = _literal_value(node.this)
        if isinstance(inner, int | Decimal):
            return -inner
        raise ValueError
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this.encode("utf-8")
        text = node.this
        return int(text) if re.fullmatch(r"\d+", text) else Decimal(text)
    if isinstance(node, exp.HexString):
        digits = node.this
        return bytes.fromhex(digits if len(digits) % 2 == 0 else "0" + digits)
    if isinstance(node, exp.BitString):
        bits = node.this or "0"
        return int(bits, 2).to_bytes((len(bits) + 7) // 8, "big")
    raise ValueError


def _default(
    node: exp.Expression, ft: FieldType, name: str, not_null: bool, time_zone: str
) -> tuple[object, str | None]:
    """(canonical default, default expression) of a DEFAULT clause."""
    function = node.name if isinstance(node, exp.Anonymous) else node.key
    if isinstance(node, exp.CurrentTimestamp | exp.CurrentDatetime) or function.upper() in (
        "NOW",
        "LOCALTIME",
        "LOCALTIMESTAMP",
        "CURRENT_TIMESTAMP",
    ):
        fsp = node.this.name if isinstance(node.this, exp.Literal) else ""
        return None, f"CURRENT_TIMESTAMP({fsp})" if fsp else "CURRENT_TIMESTAMP"
    try:
        literal = _literal_value(node)
    except ValueError:
        return None, node.sql(dialect="mysql")
    if literal is None:
        return None, None
    convert = field_converter(
        ft, column=name, not_null=not_null, sql_mode="STRICT_ALL_TABLES", time_zone=time_zone
    )
    return convert(literal), None  # type: ignore[arg-type]


# --- the statement ----------------------------------------------------------------------------


def _find_create(sql: str, what: tuple[str, ...]) -> list[tuple[str, str]]:
    for statement in _statements(sql):
        words = _words(statement, 3)
        if words[:1] == ["CREATE"] and (
            words[1:2] == list(what[:1]) or words[1:3] == ["TEMPORARY", *what[:1]]
        ):
            return statement
        if words[:1] == ["CREATE"] and len(what) > 1 and words[1:2] == [what[1]]:
            return statement
    raise SchemaError(f"no CREATE {what[0]} statement found")


def parse_create_database(sql: str) -> str:
    """The database name of a ``CREATE DATABASE`` / ``CREATE SCHEMA`` statement."""
    statement = _find_create(sql, ("DATABASE", "SCHEMA"))
    names = [
        text[1:-1].replace("``", "`") if kind == "ident" else text
        for kind, text in statement
        if kind in ("ident", "word")
    ]
    upper = [name.upper() for name in names]
    start = 4 if upper[2:4] == ["IF", "NOT"] else 2
    if upper[start : start + 1] == ["EXISTS"]:
        start += 1
    if len(names) <= start:
        raise SchemaError("CREATE DATABASE without a database name")
    return names[start]


def _key_columns(
    nodes: list[exp.Expression], offsets: dict[str, int], table: str
) -> tuple[IndexColumn, ...]:
    columns = []
    for node in nodes:
        length = -1
        if isinstance(node, exp.Ordered):
            node = node.this
        if isinstance(node, exp.ColumnPrefix):
            length = int(node.expression.name)
            node = node.this
        if not isinstance(node, exp.Identifier | exp.Column):
            raise SchemaError(
                f"table `{table}`: expression index {node.sql(dialect='mysql')} is not supported"
            )
        name = node.name
        if name.lower() not in offsets:
            raise SchemaError(f"table `{table}`: index on unknown column `{name}`")
        columns.append(IndexColumn(name=name, offset=offsets[name.lower()], length=length))
    return tuple(columns)


def parse_create_table(
    sql: str, *, table_id: int, schema: str | None = None, time_zone: str = "UTC"
) -> TableInfo:
    """Build the table model of the ``CREATE TABLE`` statement in ``sql``.

    ``sql`` may be a whole schema file: other statements are skipped. ``schema`` overrides the
    database named in the statement (a dump's table names are not qualified). ``time_zone`` is
    the zone of TIMESTAMP default literals.
    """
    statement = _find_create(sql, ("TABLE",))
    found = _TidbOptions()
    text = _rewrite(statement, found)
    advice = (
        "simplify the table definition in the schema file, or create the table on the target "
        "and let Lightning read its definition from there"
    )
    try:
        tree = sqlglot.parse_one(text, read="mysql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise SchemaError(
            f"table `{_lexical_table_name(statement)}`: cannot parse the CREATE TABLE statement: "
            f"{str(exc).splitlines()[0]}; {advice}"
        ) from None
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Schema):
        raise SchemaError(
            f"table `{_lexical_table_name(statement)}`: cannot parse the CREATE TABLE statement "
            f"(unsupported syntax such as PARTITION BY, LIKE or AS SELECT); {advice}"
        )
    table_node = tree.this.this
    name = table_node.name
    try:
        return _build_table(tree, found, table_id, schema or table_node.db or "", time_zone)
    except LightningError as exc:
        if str(exc).startswith("table `"):
            raise
        raise SchemaError(f"table `{name}`: {exc}") from None


def _lexical_table_name(statement: list[tuple[str, str]]) -> str:
    """The table name of a statement sqlglot could not parse, for the error message."""
    names = [
        text[1:-1].replace("``", "`") if kind == "ident" else text
        for kind, text in statement
        if kind in ("ident", "word")
    ]
    keywords = {"CREATE", "TEMPORARY", "TABLE", "IF", "NOT", "EXISTS"}
    rest = [name for name in names[:8] if name.upper() not in keywords]
    return rest[0] if rest else "?"


def _build_table(
    tree: exp.Create, found: _TidbOptions, table_id: int, schema: str, time_zone: str
) -> TableInfo:
    name = tree.this.this.name
    charset, collation = "utf8mb4", None
    auto_increment = None
    properties = tree.args.get("properties")
    for prop in properties.expressions if properties is not None else ():
        if isinstance(prop, exp.CharacterSetProperty):
            charset = prop.this.name.lower()
        elif isinstance(prop, exp.CollateProperty):
            collation = prop.this.name.lower()
        elif isinstance(prop, exp.AutoIncrementProperty):
            auto_increment = int(prop.this.name)
        elif isinstance(prop, exp.PartitionedByProperty) or "Partition" in type(prop).__name__:
            raise SchemaError("partitioned tables are not supported")
    if collation is None:
        collation = _default_collation(charset)
    elif not any(isinstance(p, exp.CharacterSetProperty) for p in tree.find_all(exp.Property)):
        charset = _charset_of_collation(collation)

    column_defs = [e for e in tree.this.expressions if isinstance(e, exp.ColumnDef)]
    offsets = {cd.name.lower(): i for i, cd in enumerate(column_defs)}
    table_keys: list[tuple[str, str | None, list[exp.Expression]]] = []
    inline_keys: list[tuple[str, str | None, list[exp.Expression]]] = []
    columns = []
    for offset, cd in enumerate(column_defs):
        constraints = list(cd.constraints)
        ft = _field_type(cd.args["kind"], constraints, charset, collation)
        not_null = auto_inc = stored = False
        default_node = generated = on_update = None
        auto_random = 0
        for constraint in constraints:
            ck = constraint.kind
            if isinstance(ck, exp.NotNullColumnConstraint):
                not_null = not ck.args.get("allow_null")
            elif isinstance(ck, exp.DefaultColumnConstraint):
                default_node = ck.this
            elif isinstance(ck, exp.AutoIncrementColumnConstraint):
                auto_inc = True
            elif isinstance(ck, exp.OnUpdateColumnConstraint):
                on_update = ck.this.sql(dialect="mysql")
            elif isinstance(
                ck, exp.ComputedColumnConstraint | exp.GeneratedAsIdentityColumnConstraint
            ):
                expr = ck.this if isinstance(ck.this, exp.Expression) else ck.args.get("expression")
                if expr is None:
                    raise SchemaError(f"column `{cd.name}`: generated column without expression")
                generated = expr.unnest().sql(dialect="mysql")
                stored = bool(ck.args.get("persisted"))
            elif isinstance(ck, exp.PrimaryKeyColumnConstraint):
                inline_keys.append(("primary", None, [cd.this]))
            elif isinstance(ck, exp.UniqueColumnConstraint):
                inline_keys.append(("unique", None, [cd.this]))
            elif isinstance(ck, exp.CommentColumnConstraint) and ck.this.name.startswith(
                f"{_MARK}auto_random="
            ):
                auto_random = int(ck.this.name.rsplit("=", 1)[1])
        if any(k[0] == "primary" for k in inline_keys[-1:]) and inline_keys[-1][2][0] is cd.this:
            not_null = True
        default, default_expr = None, None
        if default_node is not None:
            default, default_expr = _default(default_node, ft, cd.name, not_null, time_zone)
        columns.append(
            ColumnInfo(
                id=offset + 1,
                name=cd.name,
                offset=offset,
                ft=ft,
                not_null=not_null,
                default=default,
                has_default=default_node is not None,
                default_expr=default_expr,
                auto_increment=auto_inc,
                generated_expr=generated,
                generated_stored=stored,
                auto_random_bits=auto_random,
                on_update_expr=on_update,
            )
        )

    for node in tree.this.expressions:
        if isinstance(node, exp.ColumnDef):
            continue
        constraint_name = None
        if isinstance(node, exp.Constraint):
            constraint_name = node.name
            inner = [
                e
                for e in node.expressions
                if isinstance(e, exp.PrimaryKey | exp.UniqueColumnConstraint)
            ]
            if not inner:
                continue  # CHECK and FOREIGN KEY constraints do not shape the stored data
            node = inner[0]
        if isinstance(node, exp.PrimaryKey):
            table_keys.append(("primary", None, list(node.expressions)))
        elif isinstance(node, exp.UniqueColumnConstraint):
            target = node.this
            key_name = target.this.name if isinstance(target.this, exp.Identifier) else None
            table_keys.append(("unique", key_name or constraint_name, list(target.expressions)))
        elif isinstance(node, exp.IndexColumnConstraint):
            kind = (node.args.get("kind") or "").upper()
            if kind in ("FULLTEXT", "SPATIAL"):
                raise SchemaError(f"{kind} indexes are not supported")
            key_type = "unique" if kind == "UNIQUE" else "key"
            table_keys.append((key_type, node.name or None, list(node.expressions)))
        elif isinstance(node, exp.ForeignKey | exp.CheckColumnConstraint):
            continue
        else:
            raise SchemaError(f"cannot understand {node.sql(dialect='mysql')!r}")

    indexes: list[IndexInfo] = []
    used_names: set[str] = set()
    for key_type, key_name, nodes in table_keys + inline_keys:
        key_columns = _key_columns(nodes, offsets, name)
        primary = key_type == "primary"
        if primary:
            if any(index.primary for index in indexes):
                raise SchemaError("multiple primary keys defined")
            index_name = "PRIMARY"
            for kc in key_columns:
                if not columns[kc.offset].not_null:
                    columns[kc.offset] = _replace_not_null(columns[kc.offset])
        else:
            index_name = key_name or _unused_name(key_columns[0].name, used_names)
        used_names.add(index_name.lower())
        indexes.append(
            IndexInfo(
                id=len(indexes) + 1,
                name=index_name,
                columns=key_columns,
                unique=key_type != "key",
                primary=primary,
            )
        )
    return _finish(
        schema, name, table_id, columns, indexes, found, charset, collation, auto_increment
    )


def _replace_not_null(column: ColumnInfo) -> ColumnInfo:
    return attrs.evolve(column, not_null=True)


def _unused_name(base: str, used: set[str]) -> str:
    if base.lower() not in used and base.lower() != "primary":
        return base
    n = 2
    while f"{base}_{n}".lower() in used:
        n += 1
    return f"{base}_{n}"


def _finish(
    schema: str,
    name: str,
    table_id: int,
    columns: list[ColumnInfo],
    indexes: list[IndexInfo],
    found: _TidbOptions,
    charset: str,
    collation: str,
    auto_increment: int | None,
) -> TableInfo:
    pk = next((index for index in indexes if index.primary), None)
    pk_is_handle = is_common_handle = False
    auto_random_bits = 0
    if pk is not None:
        single_int = len(pk.columns) == 1 and columns[pk.columns[0].offset].ft.is_integer
        if single_int:
            pk_is_handle = found.clustered is not False
        else:
            is_common_handle = found.clustered is True
        auto_random_bits = max((columns[c.offset].auto_random_bits for c in pk.columns), default=0)
    random_columns = [c for c in columns if c.auto_random_bits]
    if random_columns and not (pk_is_handle and auto_random_bits):
        raise SchemaError(
            f"table `{name}`: AUTO_RANDOM needs a clustered BIGINT primary key on that column"
        )
    return TableInfo(
        id=table_id,
        schema=schema,
        name=name,
        columns=tuple(columns),
        indexes=tuple(indexes),
        pk_is_handle=pk_is_handle,
        is_common_handle=is_common_handle,
        auto_random_bits=auto_random_bits,
        shard_row_id_bits=found.table_options.get("SHARD_ROW_ID_BITS", 0),
        charset=charset,
        collation=collation,
        auto_increment=auto_increment,
    )
