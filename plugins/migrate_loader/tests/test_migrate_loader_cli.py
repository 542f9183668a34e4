"""The lightning-migrate-loader command: files, --force, errors and warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lightning_migrate_loader import MigrationError, migrate_text
from lightning_migrate_loader.cli import EXIT_CONFIG, EXIT_OK, main
from migrate_loader_support import FIXTURES

from lightning_core.config import load_config_file
from lightning_core.errors import LightningError


@pytest.fixture
def loader_toml(tmp_path: Path) -> Path:
    path = tmp_path / "loader.toml"
    shutil.copy(FIXTURES / "loader-sample.toml", path)
    return path


def test_writes_the_output_file(
    loader_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tidb-lightning.toml"
    assert main([str(loader_toml), "--output", str(out)]) == EXIT_OK
    config = load_config_file(str(out))
    assert config.tikv_importer.backend == "tidb"
    assert capsys.readouterr().out == ""


def test_prints_to_stdout_without_output(
    loader_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(loader_toml)]) == EXIT_OK
    printed = capsys.readouterr().out
    (tmp_path / "printed.toml").write_text(printed, encoding="utf-8")
    assert load_config_file(str(tmp_path / "printed.toml")).lightning.status_addr == ":8272"


def test_refuses_to_overwrite_without_force(
    loader_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tidb-lightning.toml"
    out.write_text("keep me\n", encoding="utf-8")
    assert main([str(loader_toml), "-o", str(out)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already exists; pass --force" in err
    assert out.read_text(encoding="utf-8") == "keep me\n"


def test_force_overwrites(loader_toml: Path, tmp_path: Path) -> None:
    out = tmp_path / "tidb-lightning.toml"
    out.write_text("old\n", encoding="utf-8")
    assert main([str(loader_toml), "-o", str(out), "--force"]) == EXIT_OK
    assert load_config_file(str(out)).checkpoint.schema == "tidb_loader"


def test_invalid_toml_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('log-level = "info"\npool-size = = 4\n', encoding="utf-8")
    assert main([str(bad)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}:2:")
    assert "not valid TOML" in err
    assert err.count("\n") == 1


def test_lightning_config_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).parents[3] / "examples" / "tidb-lightning.toml"
    assert main([str(example)]) == EXIT_CONFIG
    assert "already a TiDB Lightning configuration" in capsys.readouterr().err


def test_file_without_loader_keys_is_refused() -> None:
    with pytest.raises(MigrationError, match="not a Loader configuration"):
        migrate_text('[server]\nport = 80\nname = "web"\n')


def test_empty_file_is_refused() -> None:
    with pytest.raises(MigrationError, match="not a Loader configuration"):
        migrate_text("")


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.toml")]) == EXIT_CONFIG
    assert "no such Loader configuration file" in capsys.readouterr().err


def test_loader_flags_before_double_dash_get_a_hint(
    loader_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(loader_toml), "-d", "/data"])
    assert exit_info.value.code == EXIT_CONFIG
    assert "Loader's own flags go after --" in capsys.readouterr().err


def test_nothing_given(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_CONFIG
    assert "no Loader configuration given" in capsys.readouterr().err


def test_loader_c_flag_names_the_file(
    loader_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--", f"-c={loader_toml}", "-t", "3"]) == EXIT_OK
    assert "region-concurrency = 3" in capsys.readouterr().out


def test_unknown_keys_warn_on_stderr_and_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "loader.toml"
    path.write_text('dir = "/d"\npool_size = 4\n[db]\nhots = "x"\n', encoding="utf-8")
    assert main([str(path)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "warning: unknown Loader key 'pool_size'" in captured.err
    assert "warning: unknown Loader key 'db.hots'" in captured.err
    assert "# Unknown Loader keys (ignored):\n#   pool_size:" in captured.out


def test_untranslatable_keys_warn_with_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "loader.toml"
    path.write_text(
        'dir = "/d"\nis-sharding = true\n[[filter-rules]]\nschema-pattern = "a"\n'
        'events = ["drop table"]\naction = "Ignore"\n',
        encoding="utf-8",
    )
    assert main([str(path)]) == EXIT_OK
    captured = capsys.readouterr()
    assert "warning: is-sharding: Lightning merges sharded tables with [[routes]]" in captured.err
    assert "warning: filter-rules: binlog event filters" in captured.err
    assert "#   is-sharding:" in captured.out


def test_quiet_hides_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loader.toml"
    path.write_text('dir = "/d"\nis-sharding = true\n', encoding="utf-8")
    assert main([str(path), "--quiet"]) == EXIT_OK
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pool-size = "many"\n', "pool-size must be an integer"),
        ("pool-size = 0\n", "pool-size must be at least 1"),
        ("[db]\nport = 70000\n", "db.port must be 1..65535"),
        ('[[route-rules]]\npattern-schema = "a"\n', "needs both pattern-schema and target-schema"),
        ('db = "x"\n', "db has an unexpected value"),
    ],
)
def test_bad_values_are_errors(text: str, message: str) -> None:
    with pytest.raises(MigrationError, match=message):
        migrate_text(text)


def test_migration_error_is_a_lightning_error() -> None:
    assert issubclass(MigrationError, LightningError)


def test_console_script_runs(loader_toml: Path) -> None:
    script = Path(sys.executable).with_name("lightning-migrate-loader")
    done = subprocess.run(
        [str(script), str(loader_toml), "--", "-t", "5"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "region-concurrency = 5" in done.stdout


def test_plugins_command_lists_the_distribution() -> None:
    script = Path(sys.executable).with_name("tidb-lightning")
    done = subprocess.run([str(script), "plugins"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "tidb-lightning-migrate-loader 0.1.0" in done.stdout


def test_truncated_toml_is_reported_at_its_end(tmp_path: Path) -> None:

    broken = tmp_path / "loader.toml"
    broken.write_text('dir = "/data"\nlog-level = [\n')
    script = Path(sys.executable).parent / "lightning-migrate-loader"
    result = subprocess.run([str(script), str(broken)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{broken}:3:0: not valid TOML: the file ends in the middle of a value" in result.stderr
