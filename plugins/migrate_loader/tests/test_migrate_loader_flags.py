"""Loader's command-line flags: parsed like Go's flag package, overriding the file."""

from __future__ import annotations

import pytest
from lightning_migrate_loader import MigrationError
from lightning_migrate_loader.loader_config import masked_flags, parse_loader_flags
from migrate_loader_support import FIXTURES, Migrate

BRIEF_FLAGS = [
    "-d", "/data", "-h", "10.0.0.1", "-P", "4000", "-u", "root", "-p", "secret",
    "-t", "16", "-L", "debug", "-checkpoint-schema", "tidb_loader", "-status-addr", ":8272",
]  # fmt: skip


def test_every_documented_flag_overrides_the_file(migrate_and_load: Migrate) -> None:
    text = (FIXTURES / "loader-sample.toml").read_text(encoding="utf-8")
    _, config = migrate_and_load(text, BRIEF_FLAGS)
    assert config.mydumper.data_source_dir == "/data"
    assert (config.tidb.host, config.tidb.port, config.tidb.user) == ("10.0.0.1", 4000, "root")
    assert config.tidb.password == "secret"
    assert config.lightning.region_concurrency == 16
    assert config.lightning.level == "debug"
    assert config.checkpoint.schema == "tidb_loader"
    assert config.lightning.status_addr == ":8272"


def test_flags_alone_need_no_file(migrate_and_load: Migrate) -> None:
    from lightning_migrate_loader import migrate
    from lightning_migrate_loader.loader_config import read_loader_input

    result = migrate(read_loader_input(None, "<Loader flags>", ["-d", "/x", "-t", "4"]))
    assert 'data-source-dir = "/x"' in result.text
    assert "region-concurrency = 4" in result.text


def test_double_dash_and_equals_spellings(migrate_and_load: Migrate) -> None:
    flags = ["--d=/data", "--t", "8", "-P=3306", "--checkpoint-schema=cp", "--host", "h1"]
    _, config = migrate_and_load('log-level = "info"\n', flags)
    assert config.mydumper.data_source_dir == "/data"
    assert config.lightning.region_concurrency == 8
    assert config.tidb.port == 3306
    assert config.tidb.host == "h1"
    assert config.checkpoint.schema == "cp"


def test_flag_override_is_explained_next_to_the_key(migrate_and_load: Migrate) -> None:
    result, _ = migrate_and_load("pool-size = 4\n", ["-t", "12"])
    assert "# migrate: set by the Loader flag -t (the file had 4)." in result.text


def test_overridden_password_is_not_written_in_comments(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load('[db]\npassword = "old-secret"\n', ["-p", "new-secret"])
    assert config.tidb.password == "new-secret"
    assert "old-secret" not in result.text
    assert result.text.count("new-secret") == 1  # only the value itself, not the header


def test_flag_into_dm_era_to_section(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('[to]\nhost = "a"\nport = 1\n', ["-h", "b"])
    assert config.tidb.host == "b"


def test_last_flag_wins(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load("pool-size = 1\n", ["-t", "2", "-t", "3"])
    assert config.lightning.region_concurrency == 3


def test_bool_flag_takes_no_separate_value() -> None:
    flags = parse_loader_flags(["-rm-checkpoint", "-d", "x", "-rm-checkpoint=false"])
    assert [(f.spelling, f.value) for f in flags] == [
        ("-rm-checkpoint", True),
        ("-d", "x"),
        ("-rm-checkpoint", False),
    ]


def test_old_flags_are_recognised_and_reported(migrate_and_load: Migrate) -> None:
    result, _ = migrate_and_load(
        'dir = "/d"\n', ["-pc", "4", "-q", "8", "-file-num-per-block", "2"]
    )
    keys = sorted(note.key for note in result.notes)
    assert keys == ["file-num (flag -q)", "file-num-per-block (flag -file-num-per-block)",
                    "pool-count (flag -pc)"]  # fmt: skip
    assert not any(note.unknown for note in result.notes)


def test_source_and_alternative_db_flags_make_a_route(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('dir = "/d"\n', ["-s", "Shop", "-B", "shop_copy"])
    assert [(r.schema_pattern, r.target_schema) for r in config.routes] == [("shop", "shop_copy")]
    assert config.mydumper.filter == ("Shop.*",)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-x", "1"], "flag provided but not defined: -x"),
        (["-t"], "flag needs an argument: -t"),
        (["-t", "many"], "invalid value 'many' for -t"),
        (["-rm-checkpoint=maybe"], "invalid boolean value 'maybe'"),
        (["stray"], "'stray' is an invalid flag"),
    ],
)
def test_bad_flags_are_errors(flags: list[str], message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        parse_loader_flags(flags)


def test_passwords_are_masked_in_the_echo() -> None:
    shown = masked_flags(["-p", "pw", "-u", "root", "--password=pw2", "-d", "x"])
    assert shown == ("-p", "***", "-u", "root", "--password=***", "-d", "x")
