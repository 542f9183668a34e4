"""Read what Loader would have read: its TOML file and its command-line flags.

The file is parsed with tomlkit so the comments above every key survive the translation. The
result is a flat, ordered list of :class:`LoaderEntry` — one per setting, in file order, followed
by settings that only the flags gave. Flags override the file, as they did in Loader (Loader
parsed its flags twice: once to find ``-c``, and again after loading the file).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import tomlkit
import tomlkit.exceptions
from tomlkit.container import Container
from tomlkit.items import AoT, Comment, Table, Whitespace

from lightning_migrate_loader.catalog import LOADER_TOP_LEVEL_KEYS
from lightning_migrate_loader.errors import MigrationError

KeyPath = tuple[str, ...]

LIGHTNING_SECTIONS = frozenset(
    {
        "lightning",
        "tikv-importer",
        "mydumper",
        "tidb",
        "checkpoint",
        "routes",
        "post-restore",
        "cron",
        "conflict",
        "security",
    }
)
"""Top-level names that only a TiDB Lightning configuration has."""

TABLES_OF_SETTINGS = frozenset({"db", "to", "black-white-list"})
"""Tables whose keys are separate settings; any other table is taken as one unit."""


@attrs.frozen(kw_only=True)
class LoaderEntry:
    """One Loader setting, with the comments that stood above it."""

    path: KeyPath
    """Key path: ``("pool-size",)``, ``("db", "host")``, ``("route-rules",)`` (one per element)."""
    value: Any
    """Plain Python value (a dict for a table, one element of an array of tables)."""
    comments: tuple[str, ...] = ()
    """Comment lines above the key, text after ``# ``; ``""`` stands for a blank line."""
    inline_comment: str = ""
    """The comment after the value on the same line, text after ``# ``."""
    flag: str = ""
    """The command-line flag that set (or overrode) this value, as the user wrote it."""
    file_value: Any = None
    """The value in the file when a flag overrode it."""

    @property
    def key(self) -> str:
        """Dotted key as a user would write it in the report: ``db.host``."""
        return ".".join(self.path)


@attrs.frozen(kw_only=True)
class LoaderInput:
    """Everything read from the Loader side."""

    source: str
    """Where the file came from (a path, or ``<stdin>``)."""
    entries: tuple[LoaderEntry, ...]
    trailing_comments: tuple[str, ...] = ()
    """Comments after the last setting (Loader's sample ends with a commented-out route rule)."""
    flags: tuple[str, ...] = ()
    """The Loader flags as given (passwords masked), for the header of the output."""


# --- Loader's command-line flags -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class FlagSpec:
    """One of Loader's command-line flags."""

    path: KeyPath
    """The config key it sets (``("",)`` for flags that set no key)."""
    kind: type = str
    """``str``, ``int`` or ``bool`` (bool flags take no separate value, as in Go)."""


def _flag_table() -> dict[str, FlagSpec]:
    short = {
        # Loader v2.1 – v4.0 (docs: loader-overview)
        "L": FlagSpec(path=("log-level",)),
        "P": FlagSpec(path=("db", "port"), kind=int),
        "V": FlagSpec(path=("version",), kind=bool),
        "c": FlagSpec(path=("config",)),
        "checkpoint-schema": FlagSpec(path=("checkpoint-schema",)),
        "d": FlagSpec(path=("dir",)),
        "h": FlagSpec(path=("db", "host")),
        "p": FlagSpec(path=("db", "password")),
        "status-addr": FlagSpec(path=("status-addr",)),
        "pprof-addr": FlagSpec(path=("pprof-addr",)),
        "t": FlagSpec(path=("pool-size",), kind=int),
        "u": FlagSpec(path=("db", "user")),
        # older Loader builds
        "B": FlagSpec(path=("alternative-db",)),
        "s": FlagSpec(path=("source-db",)),
        "rm-checkpoint": FlagSpec(path=("rm-checkpoint",), kind=bool),
        "pc": FlagSpec(path=("pool-count",), kind=int),
        "file-num-per-block": FlagSpec(path=("file-num-per-block",), kind=int),
        "skip-unique-check": FlagSpec(path=("skip-unique-check",), kind=int),
        "checkpoint": FlagSpec(path=("checkpoint",)),
        "q": FlagSpec(path=("file-num",), kind=int),
        # DM-era Loader binary
        "log-file": FlagSpec(path=("log-file",)),
        "log-rotate": FlagSpec(path=("log-rotate",)),
        "source-id": FlagSpec(path=("source-id",)),
        "config": FlagSpec(path=("config",)),
    }
    # Long spellings: the config file's own key names also work as flags (``--pool-size 16``).
    long = {
        "log-level": short["L"],
        "pool-size": short["t"],
        "dir": short["d"],
        "host": short["h"],
        "port": short["P"],
        "user": short["u"],
        "password": short["p"],
        "alternative-db": short["B"],
        "source-db": short["s"],
        "pool-count": short["pc"],
    }
    return {**short, **long}


LOADER_FLAGS: dict[str, FlagSpec] = _flag_table()
PASSWORD_FLAGS = frozenset({"p", "password"})


@attrs.frozen(kw_only=True)
class ParsedFlag:
    """A flag occurrence: the spelling the user typed, its spec and its value."""

    spelling: str
    spec: FlagSpec
    value: Any


def parse_loader_flags(args: Sequence[str]) -> list[ParsedFlag]:
    """Parse Loader's flags the way Go's ``flag`` package did.

    ``-name value``, ``-name=value``, ``--name value`` and ``--name=value`` all work; a bool flag
    takes no separate value (``-rm-checkpoint`` or ``-rm-checkpoint=false``). A later flag wins.

    :raises MigrationError: an unknown flag, a missing or malformed value, or a stray argument.
    """
    parsed: list[ParsedFlag] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            if index < len(args):
                raise MigrationError(f"Loader flags: '{args[index]}' is an invalid flag")
            break
        if not arg.startswith("-") or arg in ("-", "---") or arg.startswith("---"):
            raise MigrationError(f"Loader flags: '{arg}' is an invalid flag")
        name, has_value, text = arg.lstrip("-").partition("=")
        spec = LOADER_FLAGS.get(name)
        if spec is None:
            known = ", ".join(f"-{n}" for n in sorted(LOADER_FLAGS))
            raise MigrationError(
                f"Loader flags: flag provided but not defined: {arg.partition('=')[0]}; "
                f"Loader's flags are {known}"
            )
        if spec.kind is bool:
            value: Any = _parse_bool(name, text) if has_value else True
        else:
            if not has_value:
                if index >= len(args):
                    raise MigrationError(f"Loader flags: flag needs an argument: -{name}")
                text = args[index]
                index += 1
            value = _parse_int(name, text) if spec.kind is int else text
        parsed.append(ParsedFlag(spelling=f"-{name}", spec=spec, value=value))
    return parsed


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise MigrationError(f"Loader flags: invalid boolean value {text!r} for -{name}")


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise MigrationError(
            f"Loader flags: invalid value {text!r} for -{name}: it must be an integer"
        ) from None


def masked_flags(args: Sequence[str]) -> tuple[str, ...]:
    """The flags as typed, with password values replaced by ``***`` (they go into a file)."""
    shown: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next:
            shown.append("***")
            hide_next = False
            continue
        name, has_value, _ = arg.lstrip("-").partition("=")
        if arg.startswith("-") and name in PASSWORD_FLAGS:
            if has_value:
                shown.append(arg.partition("=")[0] + "=***")
            else:
                shown.append(arg)
                hide_next = True
            continue
        shown.append(arg)
    return tuple(shown)


# --- the TOML file ---------------------------------------------------------------------------


def parse_loader_toml(text: str, source: str) -> tomlkit.TOMLDocument:
    """Parse Loader's TOML, reporting a syntax error with the file and line.

    :raises MigrationError: the text is not valid TOML.
    """
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        # ParseError's own message ends with "at line L col C"; keep only the reason.
        reason = str(exc).split(" at line ")[0]
        line, col = exc.line, exc.col
        if "\\x00" in reason or "\x00" in reason or "end of file" in reason.lower():
            # tomlkit reports the end of input as a NUL character at a wrong position
            reason = "the file ends in the middle of a value (is it truncated?)"
            line = text.count("\n") + 1
            col = len(text) - (text.rfind("\n") + 1)
        raise MigrationError(
            f"{source}:{line}:{col}: not valid TOML: {reason}; "
            "fix the file (Loader could not have read it either)"
        ) from None


def read_entries(document: tomlkit.TOMLDocument) -> tuple[list[LoaderEntry], list[str]]:
    """Flatten a parsed Loader document into ordered entries, carrying comments along.

    Comments above a table header go to the table's first setting; comments that no setting
    follows are returned separately.
    """
    pending: list[str] = []
    entries = list(_walk(document, (), pending))
    return entries, _trim_blank(pending)


def _walk(container: Container, prefix: KeyPath, pending: list[str]) -> Iterator[LoaderEntry]:
    for key, item in container.body:
        if key is None:
            _collect_trivia(item, pending)
            continue
        path = (*prefix, key.key)
        if isinstance(item, Table) and not prefix and key.key in TABLES_OF_SETTINGS:
            yield from _walk(item.value, path, pending)
        elif isinstance(item, AoT):
            for element in item.body:
                inner: list[str] = []
                for _, sub in element.value.body:
                    _collect_trivia(sub, inner)
                yield _entry(path, element.unwrap(), pending + _trim_blank(inner), "")
                pending.clear()
        elif isinstance(item, Table):
            inner = []
            for _, sub in item.value.body:
                _collect_trivia(sub, inner)
            yield _entry(path, item.unwrap(), pending + _trim_blank(inner), "")
            pending.clear()
        else:
            value = item.unwrap()
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                # an inline array of tables says the same as [[key]] tables
                for element in value:
                    yield _entry(path, element, pending, "")
                    pending.clear()
                continue
            yield _entry(path, value, pending, _comment_text(item.trivia.comment))
            pending.clear()


def _collect_trivia(item: Any, into: list[str]) -> None:
    if isinstance(item, Comment):
        into.append(_comment_text(item.trivia.comment))
    elif isinstance(item, Whitespace):
        into.extend("" for _ in range(item.s.count("\n")))


def _comment_text(raw: str) -> str:
    raw = raw.strip()
    if not raw.startswith("#"):
        return raw
    raw = raw[1:]
    return raw[1:] if raw.startswith(" ") else raw


def _entry(path: KeyPath, value: Any, comments: list[str], inline: str) -> LoaderEntry:
    return LoaderEntry(
        path=path, value=value, comments=tuple(_trim_blank(comments)), inline_comment=inline
    )


def _trim_blank(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "" and (not out or out[-1] == ""):
            continue  # collapse runs of blank lines, drop leading ones
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return out


def read_loader_input(text: str | None, source: str, flag_args: Sequence[str] = ()) -> LoaderInput:
    """Combine Loader's file (``text``, may be None when only flags are given) and flags.

    :raises MigrationError: invalid TOML, invalid flags, or a file that is no Loader config.
    """
    flags = parse_loader_flags(flag_args)
    entries: list[LoaderEntry] = []
    trailing: list[str] = []
    if text is not None:
        document = parse_loader_toml(text, source)
        check_is_loader_config(document, source)
        entries, trailing = read_entries(document)
    for flag in flags:
        if flag.spec.path in (("config",), ("version",)):
            continue  # -c names the file (handled by the CLI); -V only printed a version
        entries = _apply_flag(entries, flag)
    return LoaderInput(
        source=source,
        entries=tuple(entries),
        trailing_comments=tuple(trailing),
        flags=masked_flags(flag_args),
    )


def config_file_from_flags(flag_args: Sequence[str]) -> str | None:
    """The file named by Loader's ``-c``/``-config`` flag, if any (the last one wins)."""
    found = None
    for flag in parse_loader_flags(flag_args):
        if flag.spec.path == ("config",):
            found = str(flag.value)
    return found


def _apply_flag(entries: list[LoaderEntry], flag: ParsedFlag) -> list[LoaderEntry]:
    path = flag.spec.path
    # A flag sets ``db.host`` even when the file spelt the section ``[to]`` (DM-era Loader).
    aliases = {path, ("to", *path[1:])} if path[0] == "db" else {path}
    for index, entry in enumerate(entries):
        if entry.path in aliases:
            entries[index] = attrs.evolve(
                entry,
                value=flag.value,
                flag=flag.spelling,
                file_value=entry.value if not entry.flag else entry.file_value,
            )
            return entries
    return [*entries, LoaderEntry(path=path, value=flag.value, flag=flag.spelling)]


def check_is_loader_config(document: tomlkit.TOMLDocument, source: str) -> None:
    """Refuse a TiDB Lightning configuration and a file with none of Loader's keys.

    :raises MigrationError: with what was found and what to do.
    """
    keys = list(document.keys())
    lightning = [k for k in keys if k in LIGHTNING_SECTIONS]
    if lightning:
        shown = ", ".join(f"[{k}]" for k in lightning)
        raise MigrationError(
            f"{source}: this is already a TiDB Lightning configuration (it has {shown}), "
            "not a Loader one; use it with tidb-lightning --config directly"
        )
    if not any(k in LOADER_TOP_LEVEL_KEYS for k in keys):
        found = ", ".join(keys[:8]) if keys else "no keys at all"
        raise MigrationError(
            f"{source}: not a Loader configuration: none of Loader's keys (dir, pool-size, "
            f"checkpoint-schema, [db], ...) is there; found {found}"
        )


def read_file_text(path: Path) -> str:
    """Read a Loader file as UTF-8, turning OS errors into a one-line :class:`MigrationError`."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MigrationError(f"{path}: no such Loader configuration file") from None
    except UnicodeDecodeError as exc:
        raise MigrationError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    except OSError as exc:
        raise MigrationError(f"{path}: cannot read the file: {exc.strerror}") from None
