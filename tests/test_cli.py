"""The command line: plan without a server, configuration errors, exit codes, logging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_core.testing.tasks import run_lightning

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "dump"
NO_SERVER = ["--tidb-host", "192.0.2.1", "--tidb-port", "1"]  # TEST-NET: nothing answers


def test_plan_lists_tables_files_and_routes_without_a_server() -> None:
    result = run_lightning(
        [
            "plan",
            "--backend",
            "tidb",
            "-d",
            str(EXAMPLE),
            *NO_SERVER,
            "--config",
            str(REPO / "examples" / "tidb-lightning.toml"),
        ]
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "shop.orders_archive <- shop_archive_01.orders_2023, shop_archive_02.orders_2023" in text
    assert "shop.notes.000000000.sql.gz [sql gz" in text
    assert "view shop.big_customers" in text


def test_plan_json_has_chunks_and_targets() -> None:
    result = run_lightning(
        ["--plan", "--json", "--backend", "tidb", "-d", str(EXAMPLE), *NO_SERVER]
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    targets = {t["target"]: t for t in plan["tables"]}
    assert set(targets) >= {
        "shop.customers",
        "shop.orders",
        "shop.notes",
        "shop_archive_01.orders_2023",
    }
    files = targets["shop.customers"]["files"]
    assert len(files) == 2 and all(f["chunks"] for f in files)
    assert plan["unmatched"] == []


def test_unmatched_and_filtered_files_are_reported_in_the_plan(tmp_path: Path) -> None:
    (tmp_path / "db.t-schema.sql").write_text("CREATE TABLE t (a int);")
    (tmp_path / "other.u.000.sql").write_text("INSERT INTO u VALUES (1);")
    (tmp_path / "notes.txt").write_text("hello")
    args = ["plan", "--backend", "tidb", "-d", str(tmp_path), "-f", "db.*", *NO_SERVER]
    result = run_lightning(args)
    assert result.returncode == 0, result.stderr
    assert "unmatched files (1)" in result.stdout and "notes.txt" in result.stdout
    assert "excluded by [mydumper] filter (1)" in result.stdout
    assert "other.u.000.sql" in result.stdout
    plan = json.loads(run_lightning([*args, "--json"]).stdout)
    assert plan["filtered"] == ["other.u.000.sql"]


def test_unknown_config_key_names_file_section_and_nearest_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[lightning]\nregin-concurrency = 4\n")
    result = run_lightning(["-config", str(config), "--backend", "tidb", "-d", str(EXAMPLE)])
    assert result.returncode == 1
    line = result.stderr.strip()
    assert str(config) in line and "[lightning]" in line
    assert '"regin-concurrency"' in line and '"region-concurrency"' in line


def test_unknown_backend_says_what_is_installed() -> None:
    planned = run_lightning(["plan", "--backend", "nosuch", "-d", str(EXAMPLE), *NO_SERVER])
    assert planned.returncode == 0  # planning touches no backend: a warning only
    assert "installed: importer, local, tidb" in planned.stderr
    assert "shop.customers" in planned.stdout
    result = run_lightning(["--backend", "nosuch", "-d", str(EXAMPLE), *NO_SERVER])
    assert result.returncode == 1
    assert "unknown backend 'nosuch'" in result.stderr


def test_flags_are_not_abbreviated() -> None:
    result = run_lightning(["plan", "-back", "tidb", "-d", str(EXAMPLE), *NO_SERVER])
    assert result.returncode != 0
    assert "unrecognized arguments" in result.stderr


def test_unreachable_target_fails_with_one_clear_line(tmp_path: Path) -> None:
    result = run_lightning(
        [
            "--backend",
            "tidb",
            "-d",
            str(EXAMPLE),
            "--tidb-host",
            "127.0.0.1",
            "--tidb-port",
            "1",
            "--tidb-password",
            "s3cret-pw",
            "--enable-checkpoint=false",
            "-L",
            "debug",
            "--log-file",
            str(tmp_path / "l.log"),
        ]
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: connect to root@127.0.0.1:1 failed")
    assert "s3cret-pw" not in result.stderr
    logged = (tmp_path / "l.log").read_text()
    assert "s3cret-pw" not in logged
    assert "[ERROR]" in logged and "connect to root@127.0.0.1:1 failed" in logged


def test_version_flag() -> None:
    result = run_lightning(["-V"])
    assert result.returncode == 0 and result.stdout.startswith("tidb-lightning ")


def test_tls_modes_map_to_connection_options() -> None:
    from lightning_core.config_sections import SecurityConfig
    from lightning_core.errors import TargetError
    from lightning_core.target import tls_options

    none = SecurityConfig()
    with_ca = SecurityConfig(ca_path="/ca.pem", cert_path="/c.pem", key_path="/k.pem")
    assert tls_options("", none) == (("ssl_disabled", True),)
    assert tls_options("false", with_ca) == (("ssl_disabled", True),)
    assert tls_options("preferred", none) == ()
    assert dict(tls_options("", with_ca)) == {
        "ssl_ca": "/ca.pem",
        "ssl_verify_cert": True,
        "ssl_cert": "/c.pem",
        "ssl_key": "/k.pem",
    }
    assert dict(tls_options("skip-verify", none))["ssl"] == {
        "verify_mode": False,
        "check_hostname": False,
    }
    try:
        tls_options("cluster", none)
    except TargetError as exc:
        assert "ca-path" in str(exc)
    else:
        raise AssertionError("tls = cluster without a CA must fail")


def test_imports_of_one_dump_into_two_targets_are_separate_tasks(tmp_path: Path) -> None:
    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.task import task_id_of

    base = f'[mydumper]\ndata-source-dir = "{EXAMPLE}"\n'
    into_a = config_from_toml(base + '[[routes]]\nschema-pattern = "shop"\ntarget-schema = "a"\n')
    into_b = config_from_toml(base + '[[routes]]\nschema-pattern = "shop"\ntarget-schema = "b"\n')
    assert task_id_of(into_a) != task_id_of(into_b)
    assert task_id_of(into_a) == task_id_of(
        config_from_toml(
            base + '[[routes]]\nschema-pattern = "shop"\ntarget-schema = "a"\n'
            "[lightning]\nregion-concurrency = 7\n"
        )
    )  # concurrency may change between a run and its resume


@pytest.mark.parametrize(
    "section", ['[tidb]\npd-addr = "pd:2379"\n', '[tikv-importer]\naddr = "imp:8287"\n',
                '[tikv-importer]\nsorted-kv-dir = "/mnt/kv"\n']
)  # fmt: skip
def test_the_kv_addresses_and_sorted_kv_dir_are_part_of_the_fingerprint(section: str) -> None:
    from lightning_core.checkpoints.state import settings_digest
    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.task import fingerprint_settings

    base = f'[mydumper]\ndata-source-dir = "{EXAMPLE}"\n'
    plain = settings_digest(fingerprint_settings(config_from_toml(base)))
    changed = settings_digest(fingerprint_settings(config_from_toml(base + section)))
    assert plain != changed


def test_a_task_that_imports_nothing_fails_and_says_why(tmp_path: Path) -> None:
    from lightning_core.testing.tasks import task_config

    (tmp_path / "dump").mkdir()
    (tmp_path / "dump" / "README.txt").write_text("not a dump\n")
    config = tmp_path / "tidb-lightning.toml"
    config.write_text(task_config(tmp_path / "dump"))
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    assert "nothing to import" in done.stderr and "1 files matching no file rule" in done.stderr
    assert "match no file rule and are not imported: README.txt" in done.stderr


def test_settings_that_are_not_implemented_stop_the_import_in_one_line(tmp_path: Path) -> None:
    from lightning_core.testing.tasks import task_config

    config = tmp_path / "tidb-lightning.toml"
    text = task_config(EXAMPLE).replace("[lightning]\n", "[lightning]\nserver-mode = true\n")
    config.write_text(text + "[security]\nredact-info-log = true\n")
    done = run_lightning(["--config", str(config)])
    assert done.returncode == 1
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert "[lightning] server-mode = true" in line and "[security] redact-info-log = true" in line
    planned = run_lightning(["plan", "--config", str(config)])
    assert planned.returncode == 0  # the configuration itself is valid
