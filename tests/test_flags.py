"""Tests of TiDB Lightning's command-line flags and their precedence over the file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from lightning_core.config import LightningConfig, PostOpLevel
from lightning_core.errors import ConfigError
from lightning_core.flags import add_lightning_flags, apply_flags, config_from_args, parse_go_bool

FILE = """
[lightning]
level = "info"
check-requirements = true
region-concurrency = 4

[tikv-importer]
backend = "local"
sorted-kv-dir = "/from/file"

[tidb]
host = "file-host"
port = 4000
user = "file-user"
password = "file-password"

[mydumper]
data-source-dir = "/file/data"
"""


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(prog="tidb-lightning", allow_abbrev=False)
    add_lightning_flags(result)
    return result


def load(*argv: str) -> LightningConfig:
    return config_from_args(parser().parse_args(list(argv)))


@pytest.fixture
def config_file(tmp_path: Path) -> str:
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(FILE)
    return str(path)


def test_no_flags_gives_defaults() -> None:
    assert load() == LightningConfig()


@pytest.mark.parametrize("spelling", ["-config", "--config", "-c"])
def test_config_flag_spellings(config_file: str, spelling: str) -> None:
    assert load(spelling, config_file).tidb.host == "file-host"
    assert load(f"{spelling}={config_file}").tidb.host == "file-host"


def test_flags_override_the_file(config_file: str) -> None:
    config = load(
        "-config", config_file,
        "--backend", "tidb",
        "-d", "/flag/data",
        "-L", "warn",
        "--log-file", "/tmp/l.log",
        "--sorted-kv-dir", "/flag/sorted",
        "--tidb-host", "flag-host",
        "--tidb-port", "4001",
        "--tidb-user", "flag-user",
        "--tidb-password", "flag-password",
        "--tidb-status", "10081",
        "--pd-urls", "pd:2379",
        "--importer", "imp:8287",
        "--status-addr", ":8300",
        "--on-duplicate", "error",
        "--region-concurrency", "2",
    )  # fmt: skip
    assert config.tikv_importer.backend == "tidb"
    assert config.mydumper.data_source_dir == "/flag/data"
    assert config.lightning.level == "warn" and config.lightning.file == "/tmp/l.log"
    assert config.tikv_importer.sorted_kv_dir == "/flag/sorted"
    assert (config.tidb.host, config.tidb.port) == ("flag-host", 4001)
    assert (config.tidb.user, config.tidb.password) == ("flag-user", "flag-password")
    assert config.tidb.status_port == 10081 and config.tidb.pd_addr == "pd:2379"
    assert config.tikv_importer.addr == "imp:8287"
    assert config.lightning.status_addr == ":8300"
    assert config.tikv_importer.on_duplicate == "error"
    assert config.lightning.region_concurrency == 2


def test_what_no_flag_touches_comes_from_the_file(config_file: str) -> None:
    config = load("--config", config_file, "--tidb-host", "flag-host")
    assert config.tidb.host == "flag-host"
    assert config.tidb.user == "file-user" and config.tidb.password == "file-password"
    assert config.lightning.region_concurrency == 4
    assert config.tikv_importer.sorted_kv_dir == "/from/file"


def test_single_and_double_dash_are_the_same_flag() -> None:
    single = load("-tidb-host", "h", "-tidb-port=5", "-backend", "tidb", "-log-level", "error")
    double = load("--tidb-host", "h", "--tidb-port=5", "--backend", "tidb", "--log-level", "error")
    assert single == double
    assert single.tidb.port == 5 and single.lightning.level == "error"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], True),
        (["--check-requirements"], True),
        (["--check-requirements=false"], False),
        (["-check-requirements=false"], False),
        (["--check-requirements=0"], False),
        (["--check-requirements=F"], False),
        (["--check-requirements=true"], True),
        (["--check-requirements", "false"], False),
    ],
)
def test_go_style_bool_flags(argv: list[str], expected: bool) -> None:
    assert load(*argv).lightning.check_requirements is expected


def test_bool_flag_overrides_the_file_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[lightning]\ncheck-requirements = false\n[checkpoint]\nenable = false\n")
    config = load("-config", str(path), "--check-requirements", "--enable-checkpoint=true")
    assert config.lightning.check_requirements is True and config.checkpoint.enable is True
    config = load("-config", str(path))
    assert config.lightning.check_requirements is False and config.checkpoint.enable is False
    assert load("--enable-checkpoint=false").checkpoint.enable is False


def test_other_lightning_flags() -> None:
    config = load(
        "--server-mode", "--no-schema", "--checksum=false", "--analyze", "required",
        "--ca", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "--redact-info-log",
        "-f", "shop.*", "-f", "!shop.tmp",
    )  # fmt: skip
    assert config.lightning.server_mode and config.mydumper.no_schema
    assert config.post_restore.checksum is PostOpLevel.OFF
    assert config.post_restore.analyze is PostOpLevel.REQUIRED
    assert config.security.ca_path == "ca.pem" and config.security.key_path == "k.pem"
    assert config.security.redact_info_log is True
    assert config.mydumper.filter == ("shop.*", "!shop.tmp")


def test_backend_flag_accepts_plugin_backends() -> None:
    assert load("--backend", "my-plugin-backend").tikv_importer.backend == "my-plugin-backend"


def test_empty_string_flags_are_ignored_as_in_lightning(config_file: str) -> None:
    assert load("-config", config_file, "--tidb-host=").tidb.host == "file-host"


@pytest.mark.parametrize(
    "argv",
    [
        ["-L", "loud"],
        ["--tidb-port", "four"],
        ["--check-requirements=maybe"],
        ["--checksum", "sometimes"],
        ["--region-concurrency", "1.5"],
    ],
)
def test_invalid_flag_values_exit_with_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(argv)
    assert info.value.code == 2
    assert "invalid" in capsys.readouterr().err


def test_missing_or_invalid_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load("-config", str(tmp_path / "absent.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[lightning]\nregin-concurrency = 1\n")
    with pytest.raises(ConfigError, match='did you mean "region-concurrency"'):
        load("--config", str(bad))


def test_apply_flags_on_a_namespace_without_lightning_flags() -> None:
    config = LightningConfig()
    assert apply_flags(config, argparse.Namespace(other=1)) is config


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("t", True), ("TRUE", True), ("True", True), ("0", False), ("False", False)],
)
def test_parse_go_bool(text: str, value: bool) -> None:
    assert parse_go_bool(text) is value


def test_parse_go_bool_refuses_other_words() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_go_bool("yes")


def test_help_lists_flags_in_both_spellings() -> None:
    text = parser().format_help()
    for flag in ("-config", "--config", "-d", "-L", "--log-level", "--tidb-password", "--pd-urls"):
        assert flag in text
