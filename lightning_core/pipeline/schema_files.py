"""Read schema files as Lightning does: decoded with ``[mydumper] character-set``, split into
statements, version-comment-only statements and leading comments dropped."""

from __future__ import annotations

import codecs
import logging
import re

from lightning_core.errors import SchemaError
from lightning_core.interfaces import SourceFile
from lightning_core.source.compression import open_decompressed
from lightning_core.source.sql_grammar import grammar_for

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


_LEADING_COMMENTS = re.compile(
    r"^\s*(?:/\*(?!!).*?\*/\s*|--[^\n]*(?:\n|$)\s*|#[^\n]*(?:\n|$)\s*)*", re.S
)
_VERSION_COMMENT_ONLY = re.compile(r"^/\*.*\*/$", re.S)


def split_statements(text: str, *, sql_mode: str = "") -> list[str]:
    """The statements of ``text``, each without its ``;``, leading comments and blanks.

    Statements end where the data files' reader says they do (quotes, backquotes and comments
    respected, ``NO_BACKSLASH_ESCAPES`` from ``sql_mode``); the text is split after decoding,
    because a GB18030 character's second byte may be a backquote or a backslash. Statements
    that are only a version comment (``/*!40101 SET NAMES binary */``) are dropped, as
    Lightning drops them: the session's character set is ours to choose.
    """
    data = text.encode("utf-8", "surrogateescape")
    statement = grammar_for(sql_mode).statement
    pieces = []
    pos = 0
    while (match := statement.match(data, pos)) is not None:
        pieces.append(data[pos : match.end()])
        pos = match.end()
    pieces.append(data[pos:])  # a last statement without ``;``, or an unclosed quote
    statements = []
    for piece in pieces:
        body = _LEADING_COMMENTS.sub("", piece.decode("utf-8", "surrogateescape")).strip()
        body = body.removesuffix(";").strip()
        if body and not _VERSION_COMMENT_ONLY.match(body):
            statements.append(body)
    return statements


def schema_statements(file: SourceFile, character_set: str, sql_mode: str) -> list[str]:
    """The statements of a schema file, decoded with ``[mydumper] character-set``."""
    return split_statements(decode_schema_file(file, character_set), sql_mode=sql_mode)


__all__ = ["decode_schema_file", "schema_statements", "split_statements"]
