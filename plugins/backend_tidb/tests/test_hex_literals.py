"""Hex and bit literals of SQL dumps keep their meaning on the tidb backend's parsed path (the
one ``ANSI_QUOTES`` uses): ``0x31`` is 49 in an INT column and the byte ``1`` in a string."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning_core.testing.tasks import run_lightning, task_config


def test_hex_and_bit_literals_under_ansi_quotes(
    tmp_path: Path, fresh_database: str, target_connection: Any
) -> None:
    db = fresh_database
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}.t-schema.sql").write_text(
        "CREATE TABLE `t` (`n` INT, `s` VARBINARY(4), `b` INT);\n"
    )
    (dump / f"{db}.t.000000000.sql").write_text(
        "INSERT INTO `t` VALUES (0x31, 0x31, b'101'), (X'0100', x'41', 0b11);\n"
    )
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(
        task_config(dump).replace(
            'sql-mode = "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"',
            'sql-mode = "ANSI_QUOTES,STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"',
        )
    )
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 0, done.stderr
    with target_connection.cursor() as cur:
        cur.execute(f"SELECT n, s, b FROM `{db}`.t ORDER BY n")
        assert cur.fetchall() == ((49, b"1", 5), (256, b"A", 3))
