"""``[mydumper] data-character-set``: source text converted to utf8mb4, as TiDB Lightning does.

The readers parse the bytes of a file as they are (offsets stay byte offsets of the file) and
convert each string value afterwards: CSV fields and header names, SQL quoted strings and
unquoted words, and, with ``raw_sql``, each row's source text. Integers, decimals and binary
literals (``0x..``, ``b'..'``) are never converted. Bytes the character set cannot decode
become ``data-invalid-char-replace``.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Callable

import attrs

from lightning_core.interfaces import BinaryLiteral, RowBatch, Value

DATA_CHARACTER_SETS: tuple[str, ...] = ("binary", "utf8mb4", "utf8", "gb18030", "gbk", "latin1")
"""Values of ``data-character-set`` (``binary``: no conversion)."""

_CODECS = {"utf8mb4": "utf-8", "utf8": "utf-8", "gb18030": "gb18030", "gbk": "gbk"}

# MySQL's latin1 is Windows-1252; its five unassigned bytes decode to the C1 controls of the
# same number (as the WHATWG table and Go's charmap do), so latin1 text never has invalid bytes.
_CP1252 = {
    byte: bytes([byte]).decode("cp1252", "ignore") or chr(byte) for byte in range(0x80, 0xA0)
}


@functools.cache
def _replace_handler(replacement: str) -> str:
    """Register (once) a codec error handler writing ``replacement``; return its name."""
    name = "lightning-data-replace-" + replacement.encode("utf-8").hex()

    def handler(exc: UnicodeError) -> tuple[str, int]:
        assert isinstance(exc, UnicodeDecodeError)
        return replacement, exc.end

    codecs.register_error(name, handler)
    return name


def text_converter(character_set: str, replacement: str) -> Callable[[bytes], bytes] | None:
    """The function converting one source string to UTF-8, or None for ``binary``.

    :param character_set: a value of :data:`DATA_CHARACTER_SETS` (any case).
    :param replacement: written for each sequence of bytes that cannot be decoded.
    """
    name = character_set.lower()
    if name == "binary":
        return None
    if name == "latin1":

        def latin1(value: bytes) -> bytes:
            if value.isascii():
                return value
            return value.decode("latin-1").translate(_CP1252).encode("utf-8")

        return latin1
    codec = _CODECS[name]
    errors = _replace_handler(replacement)

    def convert(value: bytes) -> bytes:
        if value.isascii():
            return value
        return value.decode(codec, errors).encode("utf-8")

    return convert


def convert_values(
    rows: list[tuple[Value, ...]], convert: Callable[[bytes], bytes]
) -> list[tuple[Value, ...]]:
    """``rows`` with each string value converted (binary literals and numbers untouched)."""
    return [
        tuple(
            convert(v) if isinstance(v, bytes) and not isinstance(v, BinaryLiteral) else v
            for v in row
        )
        for row in rows
    ]


def convert_batch(batch: RowBatch, convert: Callable[[bytes], bytes]) -> RowBatch:
    """``batch`` with its string values (or, with raw SQL, its row texts) converted."""
    texts = None if batch.texts is None else [convert(t) for t in batch.texts]
    return attrs.evolve(batch, rows=convert_values(batch.rows, convert), texts=texts)


__all__ = ["DATA_CHARACTER_SETS", "convert_batch", "convert_values", "text_converter"]
