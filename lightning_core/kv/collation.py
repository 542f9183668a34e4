"""Collation sort keys for index keys, as TiDB computes them with new collations enabled.

TiDB stores string index values as the collation's sort key (then memcomparable-encoded), so a
KV encoder must compute the same keys:

* ``binary`` and ``utf8mb4_0900_bin`` (NO PAD): the bytes as they are;
* ``utf8mb4_bin``, ``utf8_bin``, ``utf8mb3_bin``, ``latin1_bin``, ``ascii_bin`` (PAD SPACE):
  the bytes with trailing spaces (0x20) removed;
* ``utf8mb4_general_ci``, ``utf8_general_ci``, ``utf8mb3_general_ci`` (PAD SPACE): trailing
  spaces removed, then each character's 16-bit weight big-endian. Characters above U+FFFF weigh
  0xFFFD. An invalid UTF-8 sequence ends the key (TiDB stops at the first one).

The general_ci weights are MySQL's ``utf8mb4_general_ci`` table. Most characters weigh their own
code point; :data:`_GENERAL_CI_RUNS` lists the 1108 exceptions as runs (``A-B=W``: every
character from A to B weighs W; ``A-B+W``: A weighs W, A+1 weighs W+1, ...). The list was
produced by asking a MariaDB 10.11 server for ``WEIGHT_STRING(... COLLATE utf8mb4_general_ci)``
of every character U+0000..U+FFFF, and checked against TiDB's plane tables (the same planes
differ from identity: 00-05, 1E, 1F, 21, 24, FF).

Any other collation raises :class:`EncodeError`: its keys would not match what TiDB writes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from lightning_core.errors import EncodeError

CollationKey = Callable[[bytes], bytes]

BINARY_COLLATIONS = frozenset({"binary"})
NO_PAD_BIN_COLLATIONS = frozenset({"utf8mb4_0900_bin"})
PAD_BIN_COLLATIONS = frozenset(
    {"utf8mb4_bin", "utf8_bin", "utf8mb3_bin", "latin1_bin", "ascii_bin", "gbk_bin", "gb18030_bin"}
)
GENERAL_CI_COLLATIONS = frozenset({"utf8mb4_general_ci", "utf8_general_ci", "utf8mb3_general_ci"})
#: Collations TiDB calls "bin" collations: index values keep a count of trimmed spaces.
BIN_COLLATIONS = PAD_BIN_COLLATIONS
SUPPORTED_COLLATIONS = (
    BINARY_COLLATIONS | NO_PAD_BIN_COLLATIONS | PAD_BIN_COLLATIONS | GENERAL_CI_COLLATIONS
) - {"gbk_bin", "gb18030_bin"}

_GENERAL_CI_RUNS = (
    "61-7A+41 B5=39C C0-C5=41 C7=43 C8-CB=45 CC-CF=49 D1-D2+4E D3-D6=4F D9-DC=55 DD=59 DF=53 "
    "E0-E5=41 E6=C6 E7=43 E8-EB=45 EC-EF=49 F0=D0 F1-F2+4E F3-F6=4F F8=D8 F9-FC=55 FD=59 "
    "FE=DE FF=59 100-105=41 106-10D=43 10E-10F=44 111=110 112-11B=45 11C-123=47 124-125=48 "
    "127=126 128-131=49 133=132 134-135=4A 136-137=4B 139-13E=4C 140=13F 142=141 143-148=4E "
    "14B=14A 14C-151=4F 153=152 154-159=52 15A-161=53 162-165=54 167=166 168-173=55 "
    "174-175=57 176-178=59 179-17E=5A 17F=53 183=182 185=184 188=187 18C=18B 192=191 195=1F6 "
    "199=198 1A0-1A1=4F 1A3=1A2 1A5=1A4 1A8=1A7 1AD=1AC 1AF-1B0=55 1B4=1B3 1B6=1B5 1B9=1B8 "
    "1BD=1BC 1BF=1F7 1C5-1C6=1C4 1C8-1C9=1C7 1CB-1CC=1CA 1CD-1CE=41 1CF-1D0=49 1D1-1D2=4F "
    "1D3-1DC=55 1DD=18E 1DE-1E1=41 1E2-1E3=C6 1E5=1E4 1E6-1E7=47 1E8-1E9=4B 1EA-1ED=4F "
    "1EE-1EF=1B7 1F0=4A 1F2-1F3=1F1 1F4-1F5=47 1F8-1F9=4E 1FA-1FB=41 1FC-1FD=C6 1FE-1FF=D8 "
    "200-203=41 204-207=45 208-20B=49 20C-20F=4F 210-213=52 214-217=55 218-219=53 21A-21B=54 "
    "21D=21C 21E-21F=48 223=222 225=224 226-227=41 228-229=45 22A-231=4F 232-233=59 253=181 "
    "254=186 256-257+189 259=18F 25B=190 260=193 263=194 268=197 269=196 26F=19C 272=19D "
    "275=19F 280=1A6 283=1A9 288=1AE 28A-28B+1B1 292=1B7 345=399 386=391 388=395 389=397 "
    "38A=399 38C=39F 38E=3A5 38F=3A9 390=399 3AA=399 3AB=3A5 3AC=391 3AD=395 3AE=397 3AF=399 "
    "3B0=3A5 3B1-3C1+391 3C2-3C3=3A3 3C4-3C9+3A4 3CA=399 3CB=3A5 3CC=39F 3CD=3A5 3CE=3A9 "
    "3D0=392 3D1=398 3D3-3D4=3D2 3D5=3A6 3D6=3A0 3DB=3DA 3DD=3DC 3DF=3DE 3E1=3E0 3E3=3E2 "
    "3E5=3E4 3E7=3E6 3E9=3E8 3EB=3EA 3ED=3EC 3EF=3EE 3F0=39A 3F1=3A1 3F2=3A3 400-401=415 "
    "403=413 407=406 40C=41A 40D=418 40E=423 430-44F+410 450-451=415 452=402 453=413 "
    "454-456+404 457=406 458-45B+408 45C=41A 45D=418 45E=423 45F=40F 461=460 463=462 465=464 "
    "467=466 469=468 46B=46A 46D=46C 46F=46E 471=470 473=472 475-477=474 479=478 47B=47A "
    "47D=47C 47F=47E 481=480 48D=48C 48F=48E 491=490 493=492 495=494 497=496 499=498 49B=49A "
    "49D=49C 49F=49E 4A1=4A0 4A3=4A2 4A5=4A4 4A7=4A6 4A9=4A8 4AB=4AA 4AD=4AC 4AF=4AE 4B1=4B0 "
    "4B3=4B2 4B5=4B4 4B7=4B6 4B9=4B8 4BB=4BA 4BD=4BC 4BF=4BE 4C1-4C2=416 4C4=4C3 4C8=4C7 "
    "4CC=4CB 4D0-4D3=410 4D5=4D4 4D6-4D7=415 4D9-4DB=4D8 4DC-4DD=416 4DE-4DF=417 4E1=4E0 "
    "4E2-4E5=418 4E6-4E7=41E 4E9-4EB=4E8 4EC-4ED=42D 4EE-4F3=423 4F4-4F5=427 4F8-4F9=42B "
    "561-586+531 1E00-1E01=41 1E02-1E07=42 1E08-1E09=43 1E0A-1E13=44 1E14-1E1D=45 "
    "1E1E-1E1F=46 1E20-1E21=47 1E22-1E2B=48 1E2C-1E2F=49 1E30-1E35=4B 1E36-1E3D=4C "
    "1E3E-1E43=4D 1E44-1E4B=4E 1E4C-1E53=4F 1E54-1E57=50 1E58-1E5F=52 1E60-1E69=53 "
    "1E6A-1E71=54 1E72-1E7B=55 1E7C-1E7F=56 1E80-1E89=57 1E8A-1E8D=58 1E8E-1E8F=59 "
    "1E90-1E95=5A 1E96=48 1E97=54 1E98=57 1E99=59 1E9B=53 1EA0-1EB7=41 1EB8-1EC7=45 "
    "1EC8-1ECB=49 1ECC-1EE3=4F 1EE4-1EF1=55 1EF2-1EF9=59 1F00-1F0F=391 1F10-1F15=395 "
    "1F18-1F1D=395 1F20-1F2F=397 1F30-1F3F=399 1F40-1F45=39F 1F48-1F4D=39F 1F50-1F57=3A5 "
    "1F59=3A5 1F5B=3A5 1F5D=3A5 1F5F=3A5 1F60-1F6F=3A9 1F70=391 1F71=1FBB 1F72=395 1F73=1FC9 "
    "1F74=397 1F75=1FCB 1F76=399 1F77=1FDB 1F78=39F 1F79=1FF9 1F7A=3A5 1F7B=1FEB 1F7C=3A9 "
    "1F7D=1FFB 1F80-1F8F=391 1F90-1F9F=397 1FA0-1FAF=3A9 1FB0-1FB4=391 1FB6-1FBA=391 1FBC=391 "
    "1FBE=399 1FC2-1FC4=397 1FC6-1FC7=397 1FC8=395 1FCA=397 1FCC=397 1FD0-1FD2=399 "
    "1FD6-1FDA=399 1FE0-1FE2=3A5 1FE4-1FE5=3A1 1FE6-1FEA=3A5 1FEC=3A1 1FF2-1FF4=3A9 "
    "1FF6-1FF7=3A9 1FF8=39F 1FFA=3A9 1FFC=3A9 2170-217F+2160 24D0-24E9+24B6 FF41-FF5A+FF21 "
)


def _parse_runs(text: str) -> dict[int, int]:
    weights: dict[int, int] = {}
    for token in text.split():
        step = "+" in token
        span, weight_text = token.split("+" if step else "=")
        first_text, _, last_text = span.partition("-")
        first = int(first_text, 16)
        last = int(last_text, 16) if last_text else first
        weight = int(weight_text, 16)
        for cp in range(first, last + 1):
            weights[cp] = weight + (cp - first if step else 0)
    return weights


#: Code point → weight for the characters whose general_ci weight is not their code point.
GENERAL_CI_WEIGHTS: dict[int, int] = _parse_runs(_GENERAL_CI_RUNS)
_GENERAL_CI_TRANSLATE = {cp: chr(weight) for cp, weight in GENERAL_CI_WEIGHTS.items()}
_SUPPLEMENTARY = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def general_ci_weight_table() -> bytes:
    """The utf8mb4_general_ci weight of every code point U+0000..U+FFFF, 16 bits big-endian
    each (for native kernels; above U+FFFF the weight is 0xFFFD)."""
    return b"".join(general_ci_weight(cp).to_bytes(2, "big") for cp in range(0x10000))


def general_ci_weight(cp: int) -> int:
    """The utf8mb4_general_ci weight of one code point."""
    if cp > 0xFFFF:
        return 0xFFFD
    return GENERAL_CI_WEIGHTS.get(cp, cp)


def _valid_utf8_prefix(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data[: exc.start].decode("utf-8")


def general_ci_key(data: bytes) -> bytes:
    """The utf8mb4_general_ci sort key of UTF-8 ``data``."""
    data = data.rstrip(b" ")
    if data.isascii():
        # ASCII weighs its uppercase: interleave a zero high byte.
        out = bytearray(2 * len(data))
        out[1::2] = data.upper()
        return bytes(out)
    text = _valid_utf8_prefix(data).translate(_GENERAL_CI_TRANSLATE)
    text = _SUPPLEMENTARY.sub("\ufffd", text)
    return text.encode("utf-16-be")


def bin_pad_key(data: bytes) -> bytes:
    """The key of a PAD SPACE ``_bin`` collation: trailing spaces removed."""
    return data.rstrip(b" ")


def binary_key(data: bytes) -> bytes:
    """The key of ``binary`` and NO PAD ``_bin`` collations: the bytes themselves."""
    return data


def collation_key_function(collation: str, *, column: str = "") -> CollationKey:
    """The function computing sort keys for ``collation``.

    :param column: named in the error for an unsupported collation.
    :raises EncodeError: the collation is not one whose keys this codec reproduces.
    """
    name = collation.lower()
    if name in BINARY_COLLATIONS or name in NO_PAD_BIN_COLLATIONS:
        return binary_key
    if name in PAD_BIN_COLLATIONS and name in SUPPORTED_COLLATIONS:
        return bin_pad_key
    if name in GENERAL_CI_COLLATIONS:
        return general_ci_key
    where = f"column {column} uses " if column else ""
    supported = ", ".join(sorted(SUPPORTED_COLLATIONS))
    raise EncodeError(
        f"{where}collation {collation!r}, whose index keys the KV encoder cannot compute "
        f"(supported: {supported}); use the tidb backend for this table, or change the "
        "column's collation"
    )


def tail_space_count(data: bytes) -> int:
    """Trailing 0x20 bytes of ``data`` (what a bin-collation index value restores)."""
    return len(data) - len(data.rstrip(b" "))
