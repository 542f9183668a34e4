"""``[[routes]]``: rename source schemas and tables on the way to the target (shard merging).

Each rule has a schema pattern, an optional table pattern and a target. Patterns are wildcards:
``*`` (any run of characters), ``?`` (one character), ``[a-z]`` and ``[!a-z]`` (a character or
not one of them); everything else is literal. A pattern that starts with ``~`` is a regular
expression instead (as in TiDB Lightning's table router), matched anywhere in the name unless
anchored: ``~^shard_[0-9]+$``. A rule without a table pattern routes a whole schema and keeps
table names; a rule with one routes matching tables and takes priority.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs

from lightning_core.config import RouteRule
from lightning_core.errors import ConfigError

_SECTION = "[[routes]]"


def _compile_pattern(pattern: str, case_sensitive: bool = False) -> re.Pattern[str]:
    """Compile a ``[[routes]]`` pattern to a full-match regex: ``~regex`` or a wildcard.

    :raises re.error: a ``~`` pattern is not a valid regular expression.
    """
    if not pattern.startswith("~"):
        return compile_wildcard(pattern, case_sensitive)
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    # Go's MatchString finds the expression anywhere in the name; fullmatch needs the padding.
    return re.compile(f".*?(?:{pattern[1:]}).*", flags)


def compile_wildcard(pattern: str, case_sensitive: bool = False) -> re.Pattern[str]:
    """Compile a route wildcard (``*``, ``?``, ``[a-z]``, ``[!a-z]``) to a full-match regex."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        elif char == "[" and "]" in pattern[i + 2 :]:
            # ``[]`` is not a class: a class holds at least one character.
            close = pattern.index("]", i + 2)
            body = pattern[i + 1 : close]
            negate = body.startswith("!") and len(body) > 1
            if negate:
                body = body[1:]
            escaped = "".join("\\" + c if c in "[]\\^&~|" else c for c in body)
            parts.append(("[^" if negate else "[") + escaped + "]")
            i = close
        else:
            parts.append(re.escape(char))
        i += 1
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.compile("".join(parts), flags)


@attrs.frozen
class _CompiledRoute:
    index: int
    rule: RouteRule
    schema: re.Pattern[str]
    table: re.Pattern[str] | None

    def describe(self) -> str:
        source = self.rule.schema_pattern
        if self.rule.table_pattern:
            source += "." + self.rule.table_pattern
        return f"{_SECTION} #{self.index + 1} ({source!r})"


@attrs.frozen
class Router:
    """Maps source (schema, table) names to target names according to ``[[routes]]``."""

    routes: tuple[_CompiledRoute, ...] = ()

    @classmethod
    def from_rules(cls, rules: Sequence[RouteRule], case_sensitive: bool = False) -> Router:
        """Validate and compile ``[[routes]]`` rules.

        :raises ConfigError: a rule lacks ``schema-pattern`` or ``target-schema``, has a bad
            pattern, or repeats the patterns of an earlier rule.
        """
        compiled: list[_CompiledRoute] = []
        seen: dict[tuple[str, str], int] = {}
        for index, rule in enumerate(rules):
            where = f"{_SECTION} #{index + 1}"
            if not rule.schema_pattern:
                raise ConfigError(f"{where}: schema-pattern is empty; set the source schema")
            if not rule.target_schema:
                raise ConfigError(f"{where}: target-schema is empty; set the target schema")
            key = (rule.schema_pattern, rule.table_pattern)
            if not case_sensitive:
                key = (key[0].lower(), key[1].lower())
            if key in seen:
                raise ConfigError(
                    f"{where}: same patterns as {_SECTION} #{seen[key] + 1}; remove one of them"
                )
            seen[key] = index
            try:
                schema = _compile_pattern(rule.schema_pattern, case_sensitive)
                table = (
                    _compile_pattern(rule.table_pattern, case_sensitive)
                    if rule.table_pattern
                    else None
                )
            except re.error as exc:
                raise ConfigError(
                    f"{where}: invalid regular expression after '~': {exc}; fix the pattern "
                    "or drop the '~' for a wildcard"
                ) from exc
            compiled.append(_CompiledRoute(index=index, rule=rule, schema=schema, table=table))
        return cls(tuple(compiled))

    def __bool__(self) -> bool:
        return bool(self.routes)

    def route(self, schema: str, table: str) -> tuple[str, str]:
        """Return the target (schema, table) of a source table; unmatched names are unchanged.

        With ``table == ""`` only schema rules (those without a table pattern) apply.

        :raises ConfigError: the name matches two rules of the same level, which would make the
            target ambiguous.
        """
        schema_rules = [
            r for r in self.routes if r.table is None and r.schema.fullmatch(schema) is not None
        ]
        table_rules = [
            r
            for r in self.routes
            if table
            and r.table is not None
            and r.schema.fullmatch(schema) is not None
            and r.table.fullmatch(table) is not None
        ]
        chosen = table_rules or schema_rules
        if not chosen:
            return schema, table
        if len(chosen) > 1:
            name = f"`{schema}`.`{table}`" if table else f"`{schema}`"
            raise ConfigError(
                f"{name} matches both {chosen[0].describe()} and {chosen[1].describe()}; "
                "make the patterns of [[routes]] not overlap"
            )
        rule = chosen[0].rule
        return rule.target_schema, rule.target_table or table

    def route_schema(self, schema: str) -> str:
        """Return the target of a whole schema (schema rules only)."""
        return self.route(schema, "")[0]


__all__ = ["Router", "compile_wildcard"]
