"""Read schema files as Lightning does: decoded with ``[mydumper] character-set``, split into
statements, version-comment-only statements and leading comments dropped."""

from __future__ import annotations

import codecs
import logging
import re

from lightning_core.errors import SchemaError
from lightning_core.interfaces import SourceFile
from lightning_core.source.compression import open_decompressed

log = logging.getLogger(__name__)

_PYTHON_CODECS = {
    "utf8mb4": "utf-8",
    "utf8": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gbk",
    "latin1": "cp1252",
}


def _latin1_undefined(error: UnicodeError) -> tuple[str, int]:
    # MySQL's latin1 is cp1252 with its five undefined bytes kept as the same code points.
    assert isinstance(error, UnicodeDecodeError)
    return "".join(chr(b) for b in error.object[error.start : error.end]), error.end


codecs.register_error("lightning-latin1", _latin1_undefined)


def decode_schema_file(file: SourceFile, character_set: str) -> str:
    """The text of a schema file in ``character_set`` (a ``[mydumper] character-set`` value).

    ``binary`` keeps the bytes as they are (undecodable ones travel as surrogate escapes and
    reach the server unchanged); ``auto`` reads UTF-8 and, failing that, GB18030.

    :raises SchemaError: the file is not valid in the character set, naming the file.
    """
    with open_decompressed(file.path, file.compression) as stream:
        data: bytes = stream.read()
    chosen = character_set.lower()
    if chosen == "binary":
        return data.decode("utf-8", "surrogateescape")
    if chosen == "auto":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise SchemaError(
                f"{file.path}: byte offset {exc.start}: neither UTF-8 nor GB18030 "
                "([mydumper] character-set = auto); convert the file to UTF-8 or set "
                "character-set to its encoding"
            ) from exc
        log.warning("%s is not UTF-8; read as GB18030 ([mydumper] character-set = auto)", file.path)
        return text
    errors = "lightning-latin1" if chosen == "latin1" else "strict"
    try:
        return data.decode(_PYTHON_CODECS[chosen], errors)
    except UnicodeDecodeError as exc:
        raise SchemaError(
            f"{file.path}: byte offset {exc.start}: not valid {chosen} ([mydumper] "
            f"character-set = {character_set!r}); convert the file or set character-set to "
            "its encoding (auto tells UTF-8 from GB18030)"
        ) from exc


def _statement_pattern(no_backslash_escapes: bool) -> re.Pattern[str]:
    if no_backslash_escapes:
        single, double = r"'(?:[^']|'')*(?:'|$)", r'"(?:[^"]|"")*(?:"|$)'
    else:
        single, double = r"'(?:[^'\\]|''|\\.)*(?:'|$)", r'"(?:[^"\\]|""|\\.)*(?:"|$)'
    token = "|".join(
        [
            single,
            double,
            r"`(?:[^`]|``)*(?:`|$)",
            r"/\*.*?(?:\*/|$)",  # also version comments, whose ``;`` is not an end
            r"--(?:[ \t][^\n]*|(?=\n)|$)",
            r"\#[^\n]*",
            r"[^;'\"`/#-]+",
            r"[/#-]",
        ]
    )
    # Every character is some token, so each match ends a statement or the text.
    return re.compile(rf"(?:{token})*;?", re.S)


_LEADING_COMMENTS = re.compile(
    r"^\s*(?:/\*(?!!).*?\*/\s*|--[^\n]*(?:\n|$)\s*|#[^\n]*(?:\n|$)\s*)*", re.S
)
_VERSION_COMMENT_ONLY = re.compile(r"^/\*.*\*/$", re.S)


def split_statements(text: str, *, no_backslash_escapes: bool = False) -> list[str]:
    """The statements of ``text``, each without its ``;``, leading comments and blanks.

    A ``;`` inside quotes, backquotes or comments does not end a statement. Statements that
    are only a version comment (``/*!40101 SET NAMES binary */``) are dropped, as Lightning
    drops them: the session's character set is ours to choose.
    """
    pattern = _statement_pattern(no_backslash_escapes)
    statements = []
    pos = 0
    while pos < len(text):
        match = pattern.match(text, pos)
        assert match is not None and match.end() > pos
        end = match.end()
        statement = _LEADING_COMMENTS.sub("", text[pos:end]).strip()
        statement = statement.removesuffix(";").strip()
        pos = end
        if statement and not _VERSION_COMMENT_ONLY.match(statement):
            statements.append(statement)
    return statements


def schema_statements(file: SourceFile, character_set: str, sql_mode: str) -> list[str]:
    """The statements of a schema file, decoded with ``[mydumper] character-set``."""
    no_backslash_escapes = "NO_BACKSLASH_ESCAPES" in sql_mode.upper()
    return split_statements(
        decode_schema_file(file, character_set), no_backslash_escapes=no_backslash_escapes
    )


__all__ = ["decode_schema_file", "schema_statements", "split_statements"]
