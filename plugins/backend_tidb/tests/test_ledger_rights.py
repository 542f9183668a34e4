"""A user allowed only on the target database is told what the progress ledger needs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightning_core.testing.tasks import run_lightning, task_config


@pytest.fixture
def limited_user(target_connection: Any, fresh_database: str) -> Iterator[str]:
    name = f"lt_user_{uuid.uuid4().hex[:8]}"
    with target_connection.cursor() as cur:
        cur.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'")
        cur.execute(f"GRANT ALL ON `{fresh_database}`.* TO '{name}'@'%'")
    yield name
    with target_connection.cursor() as cur:
        cur.execute(f"DROP USER '{name}'@'%'")


def test_missing_rights_on_the_ledger_schema_say_what_to_grant(
    tmp_path: Path, fresh_database: str, limited_user: str
) -> None:
    db = fresh_database
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / f"{db}.t-schema.sql").write_text("CREATE TABLE `t` (id INT PRIMARY KEY);\n")
    (dump / f"{db}.t.000000000.sql").write_text("INSERT INTO `t` VALUES (1),(2);\n")
    checkpoint_schema = f"lt_cp_{uuid.uuid4().hex[:8]}"
    text = task_config(dump, checkpoint=tmp_path / "cp.json", checkpoint_schema=checkpoint_schema)
    text = text.replace('user = "root"', f'user = "{limited_user}"').replace(
        'password = ""', 'password = "pw"'
    )
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(text)
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    assert "internal error" not in done.stderr
    assert f"`{checkpoint_schema}`.*" in done.stderr and "[checkpoint] schema" in done.stderr
    allowed = config.read_text().replace(f'schema = "{checkpoint_schema}"', f'schema = "{db}"')
    config.write_text(allowed)
    again = run_lightning(["--config", str(config)])
    assert again.returncode == 0, again.stderr
