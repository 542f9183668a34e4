"""TiDB's table-filter syntax, as used by ``[mydumper] filter``.

A filter is a list of rules, each ``schema-pattern.table-pattern``. A pattern is one of:

* a plain name (``db1``), matched exactly;
* a wildcard: ``*`` (any run of characters), ``?`` (one character), ``[a-z]`` / ``[!a-z]``
  (a character class or its complement), ``\\x`` (the punctuation character ``x`` itself);
* a quoted name, ``"..."`` or ```...```, matched exactly (double the quote to include it);
* a regular expression between slashes, ``/^db_\\d+$/``, searched anywhere in the name.

A rule starting with ``!`` excludes what it matches; blank rules and rules starting with ``#``
are ignored; ``@path`` reads more rules from a file, one a line. The **last** rule that matches a
table decides whether it is included; a table that no rule matches is excluded.

The system schemas (:data:`SYSTEM_SCHEMAS`) stay out unless a rule names them: a table of
``mysql`` is included only when the last matching rule includes it *and* an including rule whose
schema pattern is the plain or quoted name ``mysql`` matches it. So ``*.*`` or ``*.second``
never import ``mysql.second``; ``mysql.second`` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from lightning_core.errors import ConfigError

_OPTION = "[mydumper] filter"

SYSTEM_SCHEMAS: frozenset[str] = frozenset(
    {
        "mysql",
        "sys",
        "information_schema",
        "performance_schema",
        "metrics_schema",
        "inspection_schema",
    }
)
"""Schemas of the server itself (lower case): imported only when a rule names them."""


class _Matcher:
    """Matches one name against one pattern."""

    matches_everything: bool = False

    def match(self, name: str) -> bool:
        raise NotImplementedError


@attrs.frozen
class _Literal(_Matcher):
    text: str

    def match(self, name: str) -> bool:
        return name == self.text


@attrs.frozen
class _Everything(_Matcher):
    matches_everything = True

    def match(self, name: str) -> bool:
        return True


@attrs.frozen
class _Regex(_Matcher):
    regex: re.Pattern[str]
    anchored: bool
    """Wildcards must match the whole name; ``/regex/`` patterns match anywhere."""

    def match(self, name: str) -> bool:
        if self.anchored:
            return self.regex.fullmatch(name) is not None
        return self.regex.search(name) is not None


@attrs.frozen
class _Rule:
    schema: _Matcher
    table: _Matcher
    include: bool
    text: str


class _RuleSyntaxError(Exception):
    """A rule cannot be parsed; turned into a ConfigError naming the rule."""


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


# Characters that keep a special meaning inside a Python character class (or would make
# ``re`` warn about future set operations) and so are escaped when copied into one.
_CLASS_SPECIALS = frozenset("[]\\^&~|")


class _PatternParser:
    """Parses the patterns of one rule, left to right."""

    def __init__(self, text: str, case_sensitive: bool) -> None:
        self.text = text
        self.pos = 0
        self.flags = 0 if case_sensitive else re.IGNORECASE
        self.case_sensitive = case_sensitive

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if not self.at_end() else ""

    def pattern(self, *, stop_at_dot: bool) -> _Matcher:
        if self.at_end():
            raise _RuleSyntaxError("a pattern is missing")
        first = self.peek()
        if first == "/":
            return self._regex()
        if first in '"`':
            return self._quoted(first)
        return self._wildcard(stop_at_dot=stop_at_dot)

    def _literal(self, name: str) -> _Matcher:
        return _Literal(name if self.case_sensitive else name.lower())

    def _regex(self) -> _Matcher:
        start = self.pos + 1
        i = start
        while i < len(self.text) and self.text[i] != "/":
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text) or i == start:
            raise _RuleSyntaxError("the regular expression has no closing '/'")
        body = self.text[start:i]
        self.pos = i + 1
        try:
            regex = re.compile(body, self.flags)
        except re.error as exc:
            raise _RuleSyntaxError(f"invalid regular expression /{body}/: {exc}") from exc
        return _Regex(regex, anchored=False)

    def _quoted(self, quote: str) -> _Matcher:
        i = self.pos + 1
        name: list[str] = []
        while i < len(self.text):
            char = self.text[i]
            if char == quote:
                if i + 1 < len(self.text) and self.text[i + 1] == quote:
                    name.append(quote)
                    i += 2
                    continue
                break
            name.append(char)
            i += 1
        if i >= len(self.text) or not name:
            raise _RuleSyntaxError(f"the quoted name has no closing {quote}")
        self.pos = i + 1
        return self._literal("".join(name))

    def _wildcard(self, *, stop_at_dot: bool) -> _Matcher:
        literal: list[str] = []
        regex: list[str] = []
        is_literal = True
        while not self.at_end():
            char = self.peek()
            if char == "\\":
                if self.pos + 1 >= len(self.text):
                    raise _RuleSyntaxError("a rule cannot end with '\\'")
                escaped = self.text[self.pos + 1]
                if _is_ascii_alnum(escaped):
                    raise _RuleSyntaxError(
                        f"'\\{escaped}' is reserved: only punctuation can be escaped"
                    )
                literal.append(escaped)
                regex.append(re.escape(escaped))
                self.pos += 2
            elif char == ".":
                if stop_at_dot:
                    break
                raise _RuleSyntaxError("unexpected '.' in the table pattern; quote or escape it")
            elif char == "*":
                is_literal = False
                regex.append(".*")
                self.pos += 1
            elif char == "?":
                is_literal = False
                regex.append(".")
                self.pos += 1
            elif char == "[":
                is_literal = False
                regex.append(self._character_class())
            elif char in "$_" or _is_ascii_alnum(char) or not char.isascii():
                literal.append(char)
                regex.append(re.escape(char))
                self.pos += 1
            else:
                raise _RuleSyntaxError(
                    f"unexpected character {char!r}; quote the name with backticks or escape it"
                )
        if is_literal:
            if not literal:
                raise _RuleSyntaxError("a pattern is empty")
            return self._literal("".join(literal))
        source = "".join(regex)
        if source == ".*":
            return _Everything()
        return _Regex(re.compile(source, self.flags | re.DOTALL), anchored=True)

    def _character_class(self) -> str:
        i = self.pos + 1
        parts = ["["]
        if i < len(self.text) and self.text[i] == "!":
            parts.append("^")
            i += 1
        members = 0
        while i < len(self.text) and self.text[i] != "]":
            char = self.text[i]
            if char == "\\":
                if i + 1 >= len(self.text) or _is_ascii_alnum(self.text[i + 1]):
                    raise _RuleSyntaxError("invalid escape inside a character class")
                char = self.text[i + 1]
                parts.append("\\" + char)
                i += 2
            else:
                parts.append("\\" + char if char in _CLASS_SPECIALS else char)
                i += 1
            members += 1
        if i >= len(self.text) or members == 0:
            raise _RuleSyntaxError("a character class is empty or has no closing ']'")
        self.pos = i + 1
        parts.append("]")
        source = "".join(parts)
        try:
            re.compile(source)
        except re.error as exc:
            raise _RuleSyntaxError(f"invalid character class {source}: {exc}") from exc
        return source


def _parse_rule(text: str, case_sensitive: bool) -> _Rule:
    include = True
    body = text
    if body.startswith("!"):
        include = False
        body = body[1:]
    parser = _PatternParser(body, case_sensitive)
    schema = parser.pattern(stop_at_dot=True)
    if parser.peek() != ".":
        raise _RuleSyntaxError("a rule needs both parts, 'schema.table' (use db.* for a schema)")
    parser.pos += 1
    table = parser.pattern(stop_at_dot=False)
    if not parser.at_end():
        raise _RuleSyntaxError(f"unexpected text after the table pattern: {body[parser.pos :]!r}")
    return _Rule(schema=schema, table=table, include=include, text=text)


def _config_error(rule: str, reason: str, source: str | None = None) -> ConfigError:
    where = f" (from {source})" if source else ""
    return ConfigError(
        f"{_OPTION}: invalid rule {rule!r}{where}: {reason}. "
        "See the table-filter syntax in docs/data-source.md."
    )


@attrs.frozen
class TableFilter:
    """A parsed ``[mydumper] filter``: decides which source tables are imported."""

    rules: tuple[_Rule, ...]
    """Rules in the order written (the last matching one wins)."""
    case_sensitive: bool = False

    @classmethod
    def parse(cls, rules: Sequence[str], case_sensitive: bool = False) -> TableFilter:
        """Parse filter rules; raise ``ConfigError`` naming the first bad rule."""
        parsed: list[_Rule] = []
        for line, source in _expand_imports(rules):
            text = line.strip(" \t")
            if not text or text.startswith("#"):
                continue
            try:
                parsed.append(_parse_rule(text, case_sensitive))
            except _RuleSyntaxError as exc:
                raise _config_error(text, str(exc), source) from None
        return cls(tuple(parsed), case_sensitive)

    def _fold(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def _names_system_schema(self, schema: str, table: str | None) -> bool:
        """True unless ``schema`` is a system schema that no matching include rule names."""
        if schema.lower() not in SYSTEM_SCHEMAS:
            return True
        return any(
            rule.include
            and isinstance(rule.schema, _Literal)
            and rule.schema.match(schema)
            and (table is None or rule.table.match(table))
            for rule in self.rules
        )

    def match_table(self, schema: str, table: str) -> bool:
        """True when the table ``schema.table`` is included."""
        schema, table = self._fold(schema), self._fold(table)
        for rule in reversed(self.rules):
            if rule.schema.match(schema) and rule.table.match(table):
                return rule.include and self._names_system_schema(schema, table)
        return False

    def match_schema(self, schema: str) -> bool:
        """True when some table of ``schema`` may be included (so the schema itself is needed).

        An exclusion rule decides a schema only when it excludes every table of it
        (``!db.*``): ``!db.t1`` leaves other tables of ``db`` possible.
        """
        schema = self._fold(schema)
        for rule in reversed(self.rules):
            if rule.schema.match(schema) and (rule.include or rule.table.matches_everything):
                return rule.include and self._names_system_schema(schema, None)
        return False


def _expand_imports(rules: Iterable[str]) -> Iterable[tuple[str, str | None]]:
    """Yield (rule, where it came from), reading ``@file`` rules one level deep."""
    for rule in rules:
        text = rule.strip(" \t")
        if not text.startswith("@"):
            yield rule, None
            continue
        path = text[1:]
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise _config_error(
                text, f"cannot read the filter file: {exc.strerror or exc}"
            ) from exc
        for number, line in enumerate(lines, start=1):
            if line.strip(" \t").startswith("@"):
                raise _config_error(line, "filter files cannot import other files", path)
            yield line, f"{path}:{number}"


_UNESCAPED_SLASH = re.compile(r"(?<!\\)((?:\\\\)*)/")


def black_white_list_name(name: str) -> str:
    """One side of a rule for a ``[black-white-list]`` name: ``~regex`` becomes ``/regex/``;
    a wildcard name keeps ``*``, ``?`` and ``[...]`` and has other punctuation escaped."""
    if name.startswith("~"):
        return "/" + _UNESCAPED_SLASH.sub(r"\1\\/", name[1:]) + "/"
    out: list[str] = []
    in_class = False
    for char in name:
        if in_class or char in "*?[$_" or _is_ascii_alnum(char) or not char.isascii():
            out.append(char)
            in_class = (in_class or char == "[") and char != "]"
        else:
            out.append("\\" + char)
    return "".join(out)


def _is_plain_name(name: str) -> bool:
    return not name.startswith("~") and not any(char in name for char in "*?[")


def black_white_list_rules(
    *,
    do_dbs: Sequence[str] = (),
    ignore_dbs: Sequence[str] = (),
    do_tables: Sequence[tuple[str, str]] = (),
    ignore_tables: Sequence[tuple[str, str]] = (),
    case_sensitive: bool = False,
) -> tuple[str, ...]:
    """Filter rules that select what the deprecated ``[black-white-list]`` selects.

    Lightning read the lists with MySQL's replication rules: when do-dbs is set a table's
    schema must match it (ignore-dbs is then not consulted), otherwise its schema must not
    match ignore-dbs; a table matching do-tables is kept, else one matching ignore-tables is
    dropped, else it is kept only when do-tables is empty. Names starting with ``~`` are
    regular expressions, others wildcards. do-tables and ignore-tables are ``(db, table)``
    pairs.

    :raises ConfigError: do-dbs and do-tables together in a way no rule list can say: a
        do-tables schema pattern that is not one of do-dbs, or no do-tables entry inside do-dbs.
    """

    def rule(db: str, table: str = "*", *, include: bool = True) -> str:
        sign = "" if include else "!"
        return f"{sign}{black_white_list_name(db)}.{black_white_list_name(table)}"

    if do_tables:
        kept = [(db, table) for db, table in do_tables if _inside(db, do_dbs, case_sensitive)]
        if not kept:
            raise ConfigError(
                "no do-tables entry is in a schema of do-dbs, so nothing would be imported; "
                "fix the lists or write [mydumper] filter instead"
            )
        rules = [rule(db, table) for db, table in kept]
        if not do_dbs:  # a table outside do-tables is already excluded: ignore-tables is moot
            rules.extend(rule(db, include=False) for db in ignore_dbs)
        return tuple(rules)
    if do_dbs:
        rules = [rule(db) for db in do_dbs]
    else:
        rules = ["*.*", *(rule(db, include=False) for db in ignore_dbs)]
    rules.extend(rule(db, table, include=False) for db, table in ignore_tables)
    return tuple(rules)


def _inside(db: str, do_dbs: Sequence[str], case_sensitive: bool) -> bool:
    """Whether the tables of the do-tables schema ``db`` all lie in a schema of do-dbs."""
    if not do_dbs:
        return True
    if _is_plain_name(db):
        schemas = TableFilter.parse(
            [f"{black_white_list_name(p)}.*" for p in do_dbs], case_sensitive
        )
        return schemas.match_schema(db)
    if any(db == p or (not case_sensitive and db.lower() == p.lower()) for p in do_dbs):
        return True
    raise ConfigError(
        f"do-tables schema pattern {db!r} is not one of do-dbs, and no "
        "[mydumper] filter can require a table to match both; name the schemas in do-tables "
        "or write [mydumper] filter instead"
    )


__all__ = ["SYSTEM_SCHEMAS", "TableFilter", "black_white_list_name", "black_white_list_rules"]
