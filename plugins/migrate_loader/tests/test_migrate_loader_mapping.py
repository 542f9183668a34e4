"""One test per row of the Loader → TiDB Lightning mapping table (tidb-lightning-backends)."""

from __future__ import annotations

import tomllib

from migrate_loader_support import FIXTURES, Migrate

from lightning_core.config import KeepStrategy


def test_log_level_becomes_lightning_level(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load('log-level = "debug"\n')
    assert config.lightning.level == "debug"
    assert tomllib.loads(result.text)["lightning"]["level"] == "debug"


def test_log_file_becomes_lightning_file(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('log-file = "/var/log/loader.log"\n')
    assert config.lightning.file == "/var/log/loader.log"


def test_status_addr_keeps_the_users_port(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load('status-addr = ":8272"\n')
    assert config.lightning.status_addr == ":8272"
    assert "pprof-port" not in result.text


def test_old_pprof_addr_becomes_status_addr(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('pprof-addr = "127.0.0.1:10084"\n')
    assert config.lightning.status_addr == "127.0.0.1:10084"


def test_the_status_addr_comment_promises_only_what_is_served(migrate_and_load: Migrate) -> None:
    for loader in ('status-addr = ":8272"\n', 'pprof-addr = ":10084"\n'):
        result, _ = migrate_and_load(loader)
        comment = result.text.split("status-addr =")[0].rsplit("\n\n", 1)[-1]
        assert "/metrics" in comment and "serves no pprof" in comment, comment
        assert "serves pprof" not in result.text and "pprof and" not in result.text


def test_pprof_addr_next_to_status_addr_is_reported_not_duplicated(
    migrate_and_load: Migrate,
) -> None:
    result, config = migrate_and_load('status-addr = ":8272"\npprof-addr = ":10084"\n')
    assert config.lightning.status_addr == ":8272"
    assert [n.key for n in result.notes] == ["pprof-addr"]


def test_pool_size_becomes_region_concurrency_with_a_comment(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load("pool-size = 32\n")
    assert config.lightning.region_concurrency == 32
    before = result.text.split("region-concurrency = 32")[0]
    assert "migrate: Loader's pool-size counted SQL workers" in before


def test_checkpoint_schema_enables_mysql_checkpoints(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load('checkpoint-schema = "tidb_loader"\n')
    assert config.checkpoint.enable is True
    assert config.checkpoint.schema == "tidb_loader"
    assert config.checkpoint.driver == "mysql"
    section = tomllib.loads(result.text)["checkpoint"]
    assert section == {"enable": True, "schema": "tidb_loader", "driver": "mysql"}
    assert "cannot be resumed by Lightning" in result.text


def test_backend_is_always_tidb(migrate_and_load: Migrate) -> None:
    result, config = migrate_and_load('log-level = "info"\n')
    assert config.tikv_importer.backend == "tidb"
    assert tomllib.loads(result.text)["tikv-importer"] == {"backend": "tidb"}


def test_dir_becomes_data_source_dir_without_trailing_slash(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('dir = "/data/export/"\n')
    assert config.mydumper.data_source_dir == "/data/export"


def test_db_section_becomes_tidb(migrate_and_load: Migrate) -> None:
    text = (
        "[db]\n"
        'host = "10.0.0.7"\n'
        "port = 4001\n"
        'user = "loader"\n'
        'password = "s3cret"\n'
        'sql-mode = "STRICT_TRANS_TABLES"\n'
    )
    _, config = migrate_and_load(text)
    tidb = config.tidb
    assert (tidb.host, tidb.port) == ("10.0.0.7", 4001)
    assert (tidb.user, tidb.password) == ("loader", "s3cret")
    assert tidb.sql_mode == "STRICT_TRANS_TABLES"


def test_dm_era_to_section_is_read_like_db(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load('[to]\nhost = "10.0.0.8"\nport = 3306\n')
    assert (config.tidb.host, config.tidb.port) == ("10.0.0.8", 3306)


def test_max_allowed_packet_is_kept(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load("[db]\nmax-allowed-packet = 134217728\n")
    assert config.tidb.max_allowed_packet == 134217728


def test_downstream_default_sql_mode_is_reported(migrate_and_load: Migrate) -> None:
    result, _ = migrate_and_load('[db]\nsql-mode = "@DownstreamDefault"\nport = 4000\n')
    assert "sql-mode" not in tomllib.loads(result.text)["tidb"]
    assert [n.key for n in result.notes] == ["db.sql-mode"]
    assert "# Not translated" in result.text


def test_route_rules_become_routes(migrate_and_load: Migrate) -> None:
    text = (
        "[[route-rules]]\n"
        'pattern-schema = "shard_db_*"\n'
        'pattern-table = "shard_table_*"\n'
        'target-schema = "shard_db"\n'
        'target-table = "shard_table"\n'
        "\n"
        "[[route-rules]]\n"
        'schema-pattern = "shard_db_*"\n'
        'target-schema = "shard_db"\n'
    )
    _, config = migrate_and_load(text)
    routes = [
        (r.schema_pattern, r.table_pattern, r.target_schema, r.target_table) for r in config.routes
    ]
    assert routes == [
        ("shard_db_*", "shard_table_*", "shard_db", "shard_table"),
        ("shard_db_*", "", "shard_db", ""),
    ]


def test_inline_arrays_of_tables_read_like_double_bracket_tables(
    migrate_and_load: Migrate,
) -> None:
    text = (
        'route-rules = [{pattern-schema = "a*", target-schema = "b"}]\n'
        "[black-white-list]\n"
        'ignore-tables = [{db-name = "shop", tbl-name = "skip"}]\n'
    )
    _, config = migrate_and_load(text)
    assert [(r.schema_pattern, r.target_schema) for r in config.routes] == [("a*", "b")]
    assert "!shop.skip" in config.mydumper.filter


def test_commented_out_route_rule_is_renamed_in_the_comment(migrate_and_load: Migrate) -> None:
    text = 'dir = "/d"\n# [[route-rules]]\n# pattern-schema = "a_*"\n# target-schema = "a"\n'
    result, _ = migrate_and_load(text)
    assert '# [[routes]]\n# schema-pattern = "a_*"\n# target-schema = "a"' in result.text
    assert "route-rules" not in result.text


def test_rm_checkpoint_chooses_what_happens_to_checkpoints(migrate_and_load: Migrate) -> None:
    _, removed = migrate_and_load("rm-checkpoint = true\n")
    _, kept = migrate_and_load("rm-checkpoint = false\n")
    assert removed.checkpoint.keep_after_success is KeepStrategy.REMOVE
    assert kept.checkpoint.keep_after_success is KeepStrategy.ORIGIN


def test_case_sensitive_is_kept(migrate_and_load: Migrate) -> None:
    _, config = migrate_and_load("case-sensitive = true\n")
    assert config.mydumper.case_sensitive is True


def test_documentation_sample_translates_completely(migrate_and_load: Migrate) -> None:
    text = (FIXTURES / "loader-sample.toml").read_text(encoding="utf-8")
    result, config = migrate_and_load(text)
    assert result.notes == ()
    assert config.lightning.level == "info"
    assert config.lightning.file == "loader.log"
    assert config.lightning.status_addr == ":8272"
    assert config.lightning.region_concurrency == 16
    assert (config.checkpoint.schema, config.checkpoint.driver) == ("tidb_loader", "mysql")
    assert config.tikv_importer.backend == "tidb"
    assert config.mydumper.data_source_dir == "."
    assert (config.tidb.host, config.tidb.port, config.tidb.user) == ("127.0.0.1", 4000, "root")
    assert config.tidb.password == ""
    assert config.tidb.max_allowed_packet == 67108864
    assert config.routes == ()


def test_sample_comments_and_key_order_survive(migrate_and_load: Migrate) -> None:
    text = (FIXTURES / "loader-sample.toml").read_text(encoding="utf-8")
    result, _ = migrate_and_load(text)
    out = result.text
    # Each Loader comment sits right above the key it described.
    assert '# How much Loader logs: debug, info, warn, error or fatal.\nlevel = "info"' in out
    assert '# Where the data goes.\nhost = "127.0.0.1"' in out
    # [tidb] keys keep the Loader file's order.
    tidb = out.split("[tidb]")[1]
    positions = [tidb.index(k) for k in ("host =", "user =", "password =", "port =")]
    assert positions == sorted(positions)
    # The commented-out example at the end is carried over in Lightning's spelling.
    assert '#    [[routes]]\n#    schema-pattern = "shard_db_*"' in out
    # Sections appear in the documented order.
    order = [out.index(f"[{s}]") for s in ("lightning", "checkpoint", "tikv-importer")]
    assert order == sorted(order)
