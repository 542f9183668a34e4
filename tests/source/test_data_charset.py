"""``[mydumper] data-character-set``: SQL and CSV string values converted to utf8mb4.

Before this was added, every value was passed on as the file's bytes, and any character set
but binary/utf8mb4 was refused at configuration time.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from lightning_core.config import ConfigError, CsvConfig, MydumperConfig, config_from_toml
from lightning_core.interfaces import BinaryLiteral, Chunk
from lightning_core.source.csv_reader import CsvReader
from lightning_core.source.sql_reader import SqlReader
from tests.source.test_csv_reader import _chunk
from tests.source.test_sql_reader import source_file

TEXT = "中文 Grüße €"


def sql_rows(path: Path, mydumper: MydumperConfig, raw_sql: bool = False) -> list[object]:
    chunk = Chunk(file=source_file(path, None), index=0, offset=0, end=None)
    reader = SqlReader(chunk=chunk, mydumper=mydumper, sql_mode="", raw_sql=raw_sql)
    with reader:
        batches = list(reader.batches())
    if raw_sql:
        return [t for b in batches for t in b.texts or []]
    return [r for b in batches for r in b.rows]


def csv_batches(path: Path, mydumper: MydumperConfig) -> list[object]:
    reader = CsvReader(chunk=_chunk(str(path)), mydumper=mydumper, sql_mode="")
    return list(reader.batches())


@pytest.mark.parametrize("charset", ["gb18030", "gbk"])
def test_sql_strings_are_converted_numbers_and_binary_literals_not(
    tmp_path: Path, charset: str
) -> None:
    text = "中文 ü €" if charset == "gb18030" else "中文 ü"
    encoded = text.encode(charset)
    path = tmp_path / "db.t.sql"
    path.write_bytes(b"INSERT INTO t VALUES (1,'" + encoded + b"',0xC4E3,1.5,NULL);\n")
    mydumper = MydumperConfig(data_character_set=charset)
    assert sql_rows(path, mydumper) == [
        (1, text.encode(), BinaryLiteral(b"\xc4\xe3"), Decimal("1.5"), None)
    ]
    assert sql_rows(path, MydumperConfig()) == [
        (1, encoded, BinaryLiteral(b"\xc4\xe3"), Decimal("1.5"), None)
    ]
    raw = sql_rows(path, mydumper, raw_sql=True)
    assert raw == [b"(1,'" + text.encode() + b"',0xC4E3,1.5,NULL)"]


def test_csv_values_and_header_are_converted(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(("名字,note\n" + TEXT + ",\\N\n").encode("gb18030"))
    batches = csv_batches(path, MydumperConfig(data_character_set="gb18030", csv=CsvConfig()))
    assert batches[0].columns == ("名字", "note")
    assert batches[0].rows == [(TEXT.encode(), None)]
    # offsets stay byte offsets of the file
    assert batches[0].offsets == [len("名字,note\n".encode("gb18030"))]


def test_latin1_is_windows_1252(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"caf\xe9 \x80,\x81\n")
    mydumper = MydumperConfig(data_character_set="latin1", csv=CsvConfig(header=False))
    assert csv_batches(path, mydumper)[0].rows == [("café €".encode(), "\x81".encode())]


@pytest.mark.parametrize(
    ("charset", "data"), [("utf8mb4", b"ok \xff\xfe end"), ("gbk", b"ok \xff\x30 end")]
)
def test_invalid_bytes_become_the_replacement(tmp_path: Path, charset: str, data: bytes) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(data + b",x\n")
    csv = CsvConfig(header=False)
    default = csv_batches(path, MydumperConfig(data_character_set=charset, csv=csv))
    assert b"\xef\xbf\xbd" in default[0].rows[0][0]
    assert default[0].rows[0][0].startswith(b"ok ") and default[0].rows[0][0].endswith(b" end")
    custom = MydumperConfig(data_character_set=charset, data_invalid_char_replace="?", csv=csv)
    value = csv_batches(path, custom)[0].rows[0][0]
    assert value.startswith(b"ok ?") and value.endswith(b" end") and b"\xef" not in value


def test_binary_leaves_bytes_alone(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xc4\xe3,x\n")
    mydumper = MydumperConfig(csv=CsvConfig(header=False))
    assert mydumper.data_character_set == "binary"
    assert csv_batches(path, mydumper)[0].rows == [(b"\xff\xc4\xe3", b"x")]


def test_config_accepts_lightnings_data_character_sets() -> None:
    for name in ("binary", "utf8mb4", "gb18030", "gbk", "latin1", "GBK"):
        config = config_from_toml(f'[mydumper]\ndata-character-set = "{name}"\n')
        assert config.mydumper.data_character_set == name
    replaced = config_from_toml('[mydumper]\ndata-invalid-char-replace = "?"\n')
    assert replaced.mydumper.data_invalid_char_replace == "?"
    with pytest.raises(ConfigError, match="data-character-set = 'ebcdic' is not supported"):
        config_from_toml('[mydumper]\ndata-character-set = "ebcdic"\n')


def test_header_of_split_chunks_is_converted(tmp_path: Path) -> None:
    from lightning_core.source.csv_reader import read_header

    path = tmp_path / "t.csv"
    path.write_bytes("名字,b\n1,2\n".encode("gbk"))
    mydumper = MydumperConfig(data_character_set="gbk")
    assert read_header(str(path), None, mydumper) == ("名字", "b")
