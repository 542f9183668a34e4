"""Tests of tidb-lightning.toml loading: sections, defaults, value syntax and error messages."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightning_core import config_sections
from lightning_core.config import (
    DEFAULT_FILTER,
    BlackWhiteListConfig,
    ByteSize,
    CheckpointConfig,
    ConflictConfig,
    CronConfig,
    CsvConfig,
    FileRule,
    IgnoreColumnsRule,
    KeepStrategy,
    LightningAppConfig,
    LightningConfig,
    MaxErrorConfig,
    MydumperConfig,
    PostOpLevel,
    PostRestoreConfig,
    RouteRule,
    SecurityConfig,
    TableNamePattern,
    TidbConfig,
    TikvImporterConfig,
    config_from_mapping,
    config_from_toml,
    config_to_mapping,
    default_region_concurrency,
    load_config_file,
    parse_byte_size,
    parse_duration,
    plugin_options,
    redacted,
)
from lightning_core.errors import ConfigError

FULL_SAMPLE = Path(__file__).parent / "data" / "tidb-lightning-full.toml"
SOURCE = "tidb-lightning.toml"


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_toml(text, SOURCE)
    return str(info.value)


# --- sections and defaults --------------------------------------------------------------------


def test_empty_file_gives_every_section_with_lightnings_defaults() -> None:
    config = config_from_toml("")
    assert config == LightningConfig()
    app = config.lightning
    assert (app.level, app.file, app.max_size, app.max_days, app.max_backups) == (
        "info",
        "",
        128,
        28,
        14,
    )
    assert (app.index_concurrency, app.table_concurrency, app.io_concurrency) == (2, 6, 5)
    assert app.region_concurrency == default_region_concurrency() >= 1
    assert app.check_requirements is True
    assert app.meta_schema_name == "lightning_metadata"
    assert app.task_info_schema_name == "lightning_task_info"
    assert app.status_addr == "" and app.server_mode is False
    assert app.max_error is None  # absent: bad rows stop, warnings are counted
    assert config.security == SecurityConfig()
    assert config.checkpoint == CheckpointConfig(
        enable=True,
        schema="tidb_lightning_checkpoint",
        driver="file",
        dsn="",
        keep_after_success=KeepStrategy.REMOVE,
    )
    assert config.conflict == ConflictConfig(strategy="", threshold=10000, max_record_rows=10000)
    importer = config.tikv_importer
    assert importer.backend == "local" and importer.on_duplicate == "replace"
    assert (importer.max_kv_pairs, importer.send_kv_pairs) == (4096, 32768)
    assert importer.region_split_size == 96 * 1024 * 1024
    assert importer.range_concurrency == 16 and importer.sorted_kv_dir == ""
    assert importer.duplicate_resolution == "none" and importer.incremental_import is False
    assert importer.disk_quota == 2**63 - 1
    assert importer.logical_import_batch_size == 96 * 1024
    mydumper = config.mydumper
    assert mydumper.read_block_size == 64 * 1024
    assert mydumper.max_region_size == 256 * 1024 * 1024
    assert mydumper.batch_import_ratio == 0.75
    assert mydumper.filter == DEFAULT_FILTER and mydumper.files == ()
    assert mydumper.csv == CsvConfig()
    assert (mydumper.csv.separator, mydumper.csv.delimiter, mydumper.csv.null) == (
        ",",
        '"',
        ("\\N",),
    )
    tidb = config.tidb
    assert (tidb.host, tidb.port, tidb.user, tidb.password) == ("127.0.0.1", 4000, "root", "")
    assert (tidb.status_port, tidb.pd_addr, tidb.log_level) == (10080, "", "error")
    assert tidb.sql_mode == "ONLY_FULL_GROUP_BY,NO_AUTO_CREATE_USER"
    assert tidb.max_allowed_packet == 64 * 1024 * 1024
    assert (tidb.build_stats_concurrency, tidb.distsql_scan_concurrency) == (20, 15)
    assert (tidb.index_serial_scan_concurrency, tidb.checksum_table_concurrency) == (20, 2)
    assert tidb.security is None and tidb.session_vars == {}
    assert config.post_restore.checksum is PostOpLevel.REQUIRED
    assert config.post_restore.analyze is PostOpLevel.OPTIONAL
    assert config.post_restore.post_process_at_last is True
    assert config.cron == CronConfig(switch_mode=300.0, log_progress=300.0, check_disk_quota=60.0)
    assert config.routes == () and config.plugin == {}


def test_root_has_the_documented_sections() -> None:
    names = [f.name for f in attrs.fields(LightningConfig)]
    assert names == [
        "lightning",
        "security",
        "checkpoint",
        "conflict",
        "tikv_importer",
        "mydumper",
        "tidb",
        "post_restore",
        "cron",
        "routes",
        "plugin",
    ]


SECTION_CLASSES = [
    LightningAppConfig,
    MaxErrorConfig,
    SecurityConfig,
    CheckpointConfig,
    ConflictConfig,
    TikvImporterConfig,
    MydumperConfig,
    CsvConfig,
    FileRule,
    IgnoreColumnsRule,
    TidbConfig,
    PostRestoreConfig,
    CronConfig,
    RouteRule,
    BlackWhiteListConfig,
    TableNamePattern,
    LightningConfig,
]


@pytest.mark.parametrize("cls", SECTION_CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_a_docstring_and_the_class_is_frozen_kw_only(cls: type) -> None:
    tree = ast.parse(inspect.getsource(config_sections))
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    documented = set()
    for stmt, following in zip(body.body, body.body[1:], strict=False):
        is_field = isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        has_doc = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
        if is_field and has_doc:
            documented.add(stmt.target.id)  # type: ignore[attr-defined]
    assert documented == {f.name for f in attrs.fields(cls)}
    assert all(f.kw_only for f in attrs.fields(cls))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first = attrs.fields(cls)[0].name
        instance = cls(
            **({"schema_pattern": "a", "target_schema": "b"} if cls is RouteRule else {}),
            **({"db_name": "a", "tbl_name": "b"} if cls is TableNamePattern else {}),
        )
        setattr(instance, first, None)


def test_full_sample_loads_with_every_value() -> None:
    config = load_config_file(str(FULL_SAMPLE))
    assert config.lightning.level == "debug"
    assert config.lightning.region_concurrency == 12
    assert config.lightning.max_error == MaxErrorConfig(type=10)
    assert config.security.key_path == "/etc/tls/lightning.key"
    assert config.checkpoint.driver == "mysql"
    assert config.checkpoint.keep_after_success is KeepStrategy.ORIGIN
    assert config.conflict.strategy == "replace" and config.conflict.threshold == 500
    assert config.tikv_importer.on_duplicate == "ignore"
    assert config.tikv_importer.disk_quota == 500 * 2**30
    assert config.tikv_importer.send_kv_size == 32 * 1024
    assert config.tikv_importer.store_write_bwlimit == 128 * 2**20
    assert config.mydumper.read_block_size == 128 * 1024
    assert config.mydumper.filter == ("shop.*", "!shop.tmp_*")
    assert config.mydumper.csv.terminator == "\r\n" and config.mydumper.csv.null == ("NULL",)
    assert config.mydumper.files[0].type == "$3"
    assert config.mydumper.files[1] == FileRule(
        path="shop.orders.00001.csv.zst",
        schema="shop",
        table="orders",
        type="csv",
        key="00001",
        compression="zst",
    )
    assert config.mydumper.ignore_data_columns == (
        IgnoreColumnsRule(db="shop", table="orders", columns=("internal_note",)),
    )
    assert config.tidb.port == 4001 and config.tidb.password == "tidb-secret"
    assert config.tidb.security == SecurityConfig(
        ca_path="/etc/tls/sql-ca.pem", cert_path="/etc/tls/sql.pem", key_path="/etc/tls/sql.key"
    )
    assert config.tidb.session_vars == {
        "tidb_enable_clustered_index": "OFF",
        "foreign_key_checks": 0,
    }
    assert config.post_restore.checksum is PostOpLevel.OPTIONAL
    assert config.post_restore.analyze is PostOpLevel.OFF
    assert config.cron.switch_mode == 270.0 and config.cron.check_disk_quota == 30.0
    assert config.routes[1] == RouteRule(
        schema_pattern="shop_*",
        table_pattern="orders_*",
        target_schema="shop",
        target_table="orders",
    )
    assert config.plugin["backend-example"]["endpoint"] == "http://127.0.0.1:9000"


def test_a_dump_reads_back_to_the_same_configuration() -> None:
    config = load_config_file(str(FULL_SAMPLE))
    dumped = config_to_mapping(config)
    assert dumped["tikv-importer"]["region-split-size"] == 96 * 2**20
    assert dumped["mydumper"]["files"][1]["path"] == "shop.orders.00001.csv.zst"
    assert config_from_mapping(dumped, "dump") == config
    assert config_from_mapping(config_to_mapping(LightningConfig()), "d") == LightningConfig()


# --- value syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("96MiB", 96 * 2**20),
        ("64KiB", 64 * 1024),
        ("64KB", 64 * 1024),
        ("64k", 64 * 1024),
        ("1GB", 2**30),
        ("1.5GiB", 3 * 2**29),
        ("2 TiB", 2 * 2**40),
        ("16", 16),
        ("16B", 16),
        (16, 16),
        (0, 0),
    ],
)
def test_sizes(text: str | int, expected: int) -> None:
    assert parse_byte_size(text) == expected
    assert config_from_mapping({"mydumper": {"read-block-size": text}}, "m").mydumper == (
        MydumperConfig(read_block_size=expected)
    )


@pytest.mark.parametrize("text", ["", "MiB", "12XB", "1.2.3G", "-5", "ten", "1 0MiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_byte_size(text)
    message = error_of(f'[tikv-importer]\nregion-split-size = "{text}"')
    assert message.startswith(f"{SOURCE}: invalid value for tikv-importer.region-split-size: ")


def test_negative_and_boolean_sizes_are_refused() -> None:
    assert "negative" in error_of("[mydumper]\nread-block-size = -1")
    assert "boolean true" in error_of("[mydumper]\nread-block-size = true")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("1m0.5s", 60.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("10ns", 1e-8),
        ("0", 0.0),
        ("-2s", -2.0),
        ("+3s", 3.0),
        (".5s", 0.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds)
    cron = config_from_toml(f'[cron]\nlog-progress = "{text}"').cron
    assert math.isclose(cron.log_progress, seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "1h 30m", "5mm", "1.h.", "h1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
    assert f"{SOURCE}: invalid value for cron.switch-mode: " in error_of(
        f'[cron]\nswitch-mode = "{text}"'
    )


_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(list(_UNITS))), min_size=1))
def test_duration_parts_add_up(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert math.isclose(parse_duration(text), sum(n * _UNITS[u] for n, u in parts))


@given(st.integers(0, 2**40), st.sampled_from(["", "K", "KB", "KiB", "M", "MiB", "G", "GiB"]))
def test_size_units_are_binary(number: int, unit: str) -> None:
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[unit[:1]]
    assert parse_byte_size(f"{number}{unit}") == number * scale


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ('"required"', PostOpLevel.REQUIRED),
        ('"Optional"', PostOpLevel.OPTIONAL),
        ('"off"', PostOpLevel.OFF),
        ("true", PostOpLevel.REQUIRED),
        ("false", PostOpLevel.OFF),
        ('"true"', PostOpLevel.REQUIRED),
        ('"false"', PostOpLevel.OFF),
    ],
)
def test_post_restore_levels_accept_booleans(value: str, level: PostOpLevel) -> None:
    post = config_from_toml(f"[post-restore]\nchecksum = {value}\nanalyze = {value}").post_restore
    assert post.checksum is level and post.analyze is level


def test_bad_post_restore_level() -> None:
    message = error_of('[post-restore]\nchecksum = "sometimes"')
    assert message == (
        f'{SOURCE}: invalid value for post-restore.checksum: expected one of "off", '
        '"optional", "required", true or false, got string "sometimes"'
    )


def test_keep_after_success_accepts_booleans() -> None:
    assert config_from_toml("[checkpoint]\nkeep-after-success = true").checkpoint == (
        CheckpointConfig(keep_after_success=KeepStrategy.RENAME)
    )
    assert "keep-after-success" in error_of('[checkpoint]\nkeep-after-success = "forever"')


@pytest.mark.parametrize("level", ["debug", "info", "warn", "warning", "error", "fatal", "WARN"])
def test_log_levels(level: str) -> None:
    config = config_from_toml(f'[lightning]\nlevel = "{level}"\n[tidb]\nlog-level = "{level}"')
    assert config.lightning.level == config.tidb.log_level == level.lower()


def test_bad_log_level() -> None:
    assert error_of('[lightning]\nlevel = "verbose"').startswith(
        f"{SOURCE}: invalid value for lightning.level: expected one of debug, info, warn"
    )


def test_backend_on_duplicate_and_driver_are_open_to_plugins() -> None:
    config = config_from_toml(
        '[tikv-importer]\nbackend = "s3-bulk"\non-duplicate = "merge"\n'
        '[checkpoint]\ndriver = "etcd"\n[conflict]\nstrategy = "keep-newest"'
    )
    assert config.tikv_importer.backend == "s3-bulk"
    assert config.tikv_importer.on_duplicate == "merge"
    assert config.checkpoint.driver == "etcd" and config.conflict.strategy == "keep-newest"


def test_max_error_as_table() -> None:
    config = config_from_toml("[lightning]\nmax-error = { type = 5, conflict = 100 }")
    assert config.lightning.max_error == MaxErrorConfig(type=5, conflict=100)
    assert 'unknown key "typo" in [lightning.max-error]' in error_of(
        "[lightning]\nmax-error = { typo = 1 }"
    )


def test_file_rule_needs_exactly_one_of_pattern_and_path() -> None:
    both = '[[mydumper.files]]\npattern = "a"\npath = "b"'
    assert error_of(both) == f"{SOURCE}: [[mydumper.files]] #1: set exactly one of pattern and path"
    neither = '[[mydumper.files]]\npattern = "a"\n[[mydumper.files]]\nschema = "x"'
    assert error_of(neither) == (
        f"{SOURCE}: [[mydumper.files]] #2: set exactly one of pattern and path"
    )


# --- unknown keys -------------------------------------------------------------------------------

UNKNOWN_KEY_CASES = [
    ("[lightning]\nregin-concurrency = 3", "lightning", "regin-concurrency", "region-concurrency"),
    ("[security]\nca-pth = 'x'", "security", "ca-pth", "ca-path"),
    ("[checkpoint]\nenabel = true", "checkpoint", "enabel", "enable"),
    ("[conflict]\nstrategie = 'error'", "conflict", "strategie", "strategy"),
    ("[tikv-importer]\nbackends = 'tidb'", "tikv-importer", "backends", "backend"),
    ("[tikv-importer]\non_duplicate = 'error'", "tikv-importer", "on_duplicate", "on-duplicate"),
    ("[mydumper]\ndata-source-dri = 'x'", "mydumper", "data-source-dri", "data-source-dir"),
    ("[mydumper.csv]\nseperator = ';'", "mydumper.csv", "seperator", "separator"),
    ("[tidb]\nhots = 'x'", "tidb", "hots", "host"),
    ("[tidb.security]\nkey-pth = 'x'", "tidb.security", "key-pth", "key-path"),
    ("[post-restore]\nchecksun = 'off'", "post-restore", "checksun", "checksum"),
    ("[cron]\nswitch-mod = '1m'", "cron", "switch-mod", "switch-mode"),
]


@pytest.mark.parametrize(("text", "section", "key", "nearest"), UNKNOWN_KEY_CASES)
def test_unknown_key_names_file_section_key_and_nearest(
    text: str, section: str, key: str, nearest: str
) -> None:
    assert error_of(text) == (
        f'{SOURCE}: unknown key "{key}" in [{section}]; did you mean "{nearest}"?'
    )


@pytest.mark.parametrize(
    ("text", "section", "key", "nearest"),
    [
        ('[[mydumper.files]]\npatern = "x"', "mydumper.files", "patern", "pattern"),
        (
            '[[routes]]\nschema-pattern = "a"\ntarget-schema = "b"\ntarget-tabel = "c"',
            "routes",
            "target-tabel",
            "target-table",
        ),
        (
            '[[mydumper.ignore-data-columns]]\ncolumn = ["a"]',
            "mydumper.ignore-data-columns",
            "column",
            "columns",
        ),
    ],
)
def test_unknown_key_in_array_of_tables(text: str, section: str, key: str, nearest: str) -> None:
    assert error_of(text) == (
        f'{SOURCE}: unknown key "{key}" in [[{section}]] #1; did you mean "{nearest}"?'
    )


def test_unknown_sections() -> None:
    assert error_of('[tikv-imorter]\nbackend = "tidb"') == (
        f"{SOURCE}: unknown section [tikv-imorter]; did you mean [tikv-importer]?"
    )
    assert error_of("[mydumper.cvs]\nheader = false") == (
        f"{SOURCE}: unknown section [mydumper.cvs]; did you mean [mydumper.csv]?"
    )
    assert error_of('[[route]]\nschema-pattern = "a"') == (
        f"{SOURCE}: unknown section [[route]]; did you mean [[routes]]?"
    )
    assert error_of("backend = 'tidb'") == (
        f'{SOURCE}: unknown key "backend" in the top level; valid keys are: lightning, '
        "security, checkpoint, conflict, tikv-importer, mydumper, tidb, post-restore, cron, "
        "routes, plugin"
    )


def test_unknown_key_without_a_near_one_lists_the_valid_keys() -> None:
    assert error_of("[cron]\nzzz = 1") == (
        f'{SOURCE}: unknown key "zzz" in [cron]; valid keys are: switch-mode, log-progress, '
        "check-disk-quota"
    )


def test_every_problem_is_reported_one_per_line() -> None:
    lines = error_of('[lightning]\nlevle = "info"\nio-concurrency = "5"\n[tidb]\nprot = 1')
    assert sorted(lines.splitlines()) == [
        f"{SOURCE}: invalid value for lightning.io-concurrency: expected an integer, "
        'got string "5"',
        f'{SOURCE}: unknown key "levle" in [lightning]; did you mean "level"?',
        f'{SOURCE}: unknown key "prot" in [tidb]; did you mean "port"?',
    ]


# --- wrong types, bad TOML ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        ('[tidb]\nport = "4000"', "tidb.port", 'expected an integer, got string "4000"'),
        ("[tidb]\nport = 4000.0", "tidb.port", "expected an integer, got float 4000.0"),
        ("[tidb]\nhost = 127", "tidb.host", "expected a string, got integer 127"),
        ('[checkpoint]\nenable = "yes"', "checkpoint.enable", "expected a boolean"),
        (
            "[lightning]\nregion-concurrency = true",
            "lightning.region-concurrency",
            "expected an integer, got boolean true",
        ),
        ("[mydumper]\nfilter = [1]", "mydumper.filter[0]", "expected a string, got integer 1"),
        ('[mydumper]\nfilter = "*.*"', "mydumper.filter", 'expected an array, got string "*.*"'),
        ("[mydumper.csv]\nheader = 1", "mydumper.csv.header", "expected a boolean"),
        (
            '[mydumper]\nbatch-import-ratio = "x"',
            "mydumper.batch-import-ratio",
            "expected a number",
        ),
    ],
)
def test_wrong_type_names_file_and_key(text: str, where: str, expected: str) -> None:
    message = error_of(text)
    assert message.startswith(f"{SOURCE}: invalid value for {where}: {expected}")


def test_integer_accepted_where_a_number_is_expected() -> None:
    assert config_from_toml("[mydumper]\nbatch-import-ratio = 0").mydumper.batch_import_ratio == 0


def test_a_section_that_is_not_a_table() -> None:
    assert error_of("lightning = 5") == f"{SOURCE}: [lightning] must be a table, got integer 5"
    assert error_of("routes = 5").startswith(f"{SOURCE}: invalid value for routes: expected an")


def test_missing_required_key() -> None:
    assert error_of('[[routes]]\nschema-pattern = "a"') == (
        f'{SOURCE}: missing required key "target-schema" in [[routes]] #1'
    )


def test_bad_toml_names_file_and_line() -> None:
    message = error_of('[lightning]\nlevel = "info"\nmax-size = = 3\n')
    assert message.startswith(f"{SOURCE}:3:")
    assert "invalid TOML" in message


def test_bad_toml_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[tidb\nhost = 'x'\n")
    with pytest.raises(ConfigError, match=r"broken\.toml:1:\d+: invalid TOML"):
        load_config_file(str(path))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config_file(str(tmp_path / "missing.toml"))
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"level = '\xff'")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config_file(str(binary))


def test_error_is_a_config_error_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "tidb-lightning.toml"
    path.write_text("[lightning]\nregin-concurrency = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(str(path))
    assert str(info.value) == (
        f'{path}: unknown key "regin-concurrency" in [lightning]; '
        'did you mean "region-concurrency"?'
    )


def test_mapping_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="expected a table at the top level"):
        config_from_mapping([1, 2], "x")  # type: ignore[arg-type]


# --- secrets ------------------------------------------------------------------------------------


def test_passwords_never_in_repr_or_redacted_dump() -> None:
    config = load_config_file(str(FULL_SAMPLE))
    text = repr(config)
    for secret in ("tidb-secret", "ckpt-secret", "/etc/tls/lightning.key", "/etc/tls/sql.key"):
        assert secret not in text
    dump = redacted(config)
    flat = repr(dump)
    for secret in ("tidb-secret", "ckpt-secret", "lightning.key", "sql.key", "plugin-secret"):
        assert secret not in flat
    assert dump["tidb"]["password"] == "******"
    assert dump["security"]["key-path"] == "******"
    assert dump["tidb"]["security"]["key-path"] == "******"
    assert dump["checkpoint"]["dsn"] == "ckpt_user:******@tcp(10.0.0.9:3306)/"
    assert dump["plugin"]["backend-example"]["api-token"] == "******"
    assert dump["plugin"]["backend-example"]["endpoint"] == "http://127.0.0.1:9000"
    assert dump["tidb"]["user"] == "lightning" and dump["tidb"]["port"] == 4001
    assert dump["post-restore"]["checksum"] == "optional"
    assert dump["mydumper"]["filter"] == ["shop.*", "!shop.tmp_*"]


def test_file_checkpoint_dsn_path_is_kept_in_redacted_dump() -> None:
    config = config_from_toml('[checkpoint]\ndsn = "/tmp/ckpt.pb"')
    assert redacted(config)["checkpoint"]["dsn"] == "/tmp/ckpt.pb"


# --- plugin tables ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ExampleOptions:
    """Options of an example plugin."""

    endpoint: str
    buffer_size: ByteSize = 1024
    retries: int = 3
    api_token: str = attrs.field(default="", repr=False)


def test_plugin_options_validated_by_the_plugins_type() -> None:
    config = config_from_toml(
        '[plugin.example]\nendpoint = "http://x"\nbuffer-size = "4KiB"\napi-token = "t"'
    )
    assert plugin_options(config, "example", ExampleOptions) == ExampleOptions(
        endpoint="http://x", buffer_size=4096, api_token="t"
    )


def test_plugin_options_errors_name_the_plugin_section() -> None:
    config = config_from_toml('[plugin.example]\nendpoint = "x"\nretrys = 5\nretries = "5"')
    with pytest.raises(ConfigError) as info:
        plugin_options(config, "example", ExampleOptions)
    assert sorted(str(info.value).splitlines()) == [
        'invalid value for plugin.example.retries: expected an integer, got string "5"',
        'unknown key "retrys" in [plugin.example]; did you mean "retries"?',
    ]
    with pytest.raises(ConfigError, match=r'^tidb-lightning\.toml: unknown key "retrys"'):
        plugin_options(config, "example", ExampleOptions, source="tidb-lightning.toml")


def test_plugin_options_missing_table_uses_defaults_or_reports_required_keys() -> None:
    @attrs.frozen(kw_only=True)
    class Defaults:
        level: int = 1

    config = LightningConfig()
    assert plugin_options(config, "absent", Defaults) == Defaults()
    with pytest.raises(ConfigError, match=r'missing required key "endpoint" in \[plugin.absent\]'):
        plugin_options(config, "absent", ExampleOptions)


def test_plugin_tables_must_be_tables() -> None:
    assert error_of("[plugin]\nexample = 3").startswith(
        f"{SOURCE}: [plugin.example] must be a table"
    )


def test_construction_in_code_keeps_working() -> None:
    rule = FileRule(pattern=r"^a\.b\.sql$", schema="a", table="b", type="sql")
    mydumper = MydumperConfig(files=(rule,), csv=CsvConfig(separator=";"))
    config = LightningConfig(
        mydumper=mydumper, routes=(RouteRule(schema_pattern="x", target_schema="y"),)
    )
    assert config_from_mapping(config_to_mapping(config), "code") == config


def _all_keys(data: Any, prefix: str = "") -> set[str]:
    keys = set()
    if isinstance(data, dict):
        for key, value in data.items():
            keys.add(prefix + key)
            keys |= _all_keys(value, prefix + key + ".")
    return keys


def test_full_sample_covers_nearly_every_key() -> None:
    sample = _all_keys(config_to_mapping(load_config_file(str(FULL_SAMPLE))))
    defaults = _all_keys(config_to_mapping(LightningConfig()))
    # max-error is written as an integer in the sample; everything else is present.
    missing = {k for k in defaults - sample if not k.startswith("lightning.max-error")}
    assert missing == set()


def test_csv_options_that_cannot_parse_are_refused_at_load() -> None:
    from lightning_core.config import config_from_toml

    for body, problem in [
        ('separator = ""', "separator must not be empty"),
        ("separator = ','\ndelimiter = ','", "separator must differ"),
        ("terminator = '|'\nseparator = '|'", "separator must differ"),
        ("terminator = '\"'", "delimiter must differ from the terminator"),
    ]:
        with pytest.raises(ConfigError, match=rf"t\.toml: \[mydumper\.csv\]: {problem}"):
            config_from_toml(f"[mydumper.csv]\n{body}\n", "t.toml")


def test_port_out_of_range_is_refused() -> None:
    from lightning_core.config import config_from_toml

    with pytest.raises(ConfigError, match=r"\[tidb\]: port 99999 is not between 1 and 65535"):
        config_from_toml("[tidb]\nport = 99999\n", "t.toml")


def test_charsets_that_would_need_conversion_are_refused() -> None:
    from lightning_core.config import config_from_toml

    with pytest.raises(ConfigError, match=r"data-character-set = 'ucs2' is not supported"):
        config_from_toml('[mydumper]\ndata-character-set = "ucs2"\n', "t.toml")
    with pytest.raises(ConfigError, match=r"character-set = 'ucs2' is not supported"):
        config_from_toml('[mydumper]\ncharacter-set = "ucs2"\n', "t.toml")
    assert config_from_toml('[mydumper]\ndata-character-set = "binary"\n').mydumper
