"""Plugin discovery, registration and the ``plugins`` command, with throwaway plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lightning_core import ConflictStrategyRecord, PluginError, hookimpl
from lightning_core.plugins import STRICT_ENV, LoadedPlugin, PluginHost, load_plugins
from lightning_core.registry import BackendRecord, Registry, SourceReaderRecord
from lightning_core.testing.tasks import task_config

BIN = Path(sys.executable).parent


def write_dist_info(root: Path, dist: str, module: str, source: str) -> None:
    """A plugin 'installed' flake8-style: a module and a .dist-info with its entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[lightning.plugins]\n{module} = {module}\n")


def run_cli(
    *args: str, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run(
        [str(BIN / "tidb-lightning"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_builtins_register_through_hooks() -> None:
    host = load_plugins(strict=True)
    registry = host.registry
    assert registry.names("source_reader") == ["csv", "parquet", "sql"]
    assert registry.names("conflict_strategy") == ["error", "ignore", "replace"]
    assert {"file", "mysql"} <= set(registry.names("checkpoint_store"))
    assert registry.find_reader("csv").name == "csv"


def test_plugins_json_lists_builtins_and_installed_plugins() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {d["distribution"]: d for d in report["distributions"]}
    assert "tidb-lightning" in by_name
    components = {(c["kind"], c["name"]) for c in by_name["tidb-lightning"]["components"]}
    assert ("source_reader", "sql") in components
    assert ("conflict_strategy", "replace") in components
    assert ("checkpoint_store", "file") in components
    tidb = by_name["tidb-lightning-backend-tidb"]
    assert ("backend", "tidb") in {(c["kind"], c["name"]) for c in tidb["components"]}
    assert "lightning_register_backends" in tidb["plugins"][0]["hooks"]
    assert "tidb-lightning-migrate-loader" in by_name
    assert report["failures"] == []


def test_duplicate_names_are_refused_naming_both_origins() -> None:
    registry = Registry()
    record = BackendRecord(name="x", factory=object, worker_factory=object)
    registry.add("backend", record, "first==1.0")
    with pytest.raises(PluginError, match=r"registered twice: by first==1.0 and by second==2.0"):
        registry.add("backend", record, "second==2.0")


def test_two_readers_of_one_format_are_refused() -> None:
    registry = Registry()
    registry.add(
        "source_reader",
        SourceReaderRecord(name="csv", formats=("csv",), factory=object),
        "tidb-lightning==0.1",
    )
    with pytest.raises(
        PluginError,
        match=r"'csv' \(tidb-lightning==0.1\) and 'fastcsv' "
        r"\(acme==2\) both read csv files",
    ):
        registry.add(
            "source_reader",
            SourceReaderRecord(name="fastcsv", formats=("csv", "tsv"), factory=object),
            "acme==2",
        )


def test_unknown_backend_lists_installed_and_package() -> None:
    registry = load_plugins(strict=True).registry
    with pytest.raises(PluginError) as info:
        registry.get("backend", "nosuch")
    message = str(info.value)
    assert "installed: " in message and "tidb" in message and "importer" in message
    with pytest.raises(PluginError) as info:
        Registry().get("backend", "importer")
    message = str(info.value)
    assert "tidb-lightning-backend-importer" in message and "./plugins/backend_importer" in message
    with pytest.raises(PluginError, match="did you mean 'tidb'"):
        registry.get("backend", "tibd")


def test_install_hint_names_the_checkout_directory_and_the_distribution() -> None:
    repo = Path(__file__).resolve().parent.parent
    with pytest.raises(PluginError) as info:
        Registry().get("backend", "tidb")
    message = str(info.value)
    assert "pip install ./plugins/backend_tidb" in message
    assert "tidb-lightning-backend-tidb" in message
    assert (repo / "plugins" / "backend_tidb" / "pyproject.toml").exists()


def test_the_native_encoder_hint_names_its_directory_and_distribution() -> None:
    with pytest.raises(PluginError) as info:
        Registry().get("encoder", "kv-native")
    message = str(info.value)
    assert "pip install ./plugins/encoder_native" in message
    assert "tidb-lightning-encoder-native" in message


def test_wrong_record_type_is_refused() -> None:
    registry = Registry()
    with pytest.raises(PluginError, match="must be a BackendRecord"):
        registry.add("backend", ConflictStrategyRecord(name="x", factory=object), "p==1")


def test_misspelt_hook_fails_at_start(tmp_path: Path) -> None:
    module = type(sys)("misspelt")

    @hookimpl
    def lightning_register_backendz() -> list[BackendRecord]:
        return []

    module.lightning_register_backendz = lightning_register_backendz  # type: ignore[attr-defined]
    host = PluginHost()
    host.register(LoadedPlugin(name="misspelt", distribution="m", version="1", module=module))
    with pytest.raises(
        PluginError,
        match=r"m==1\[misspelt\] .*'lightning_register_backendz'.*did you mean "
        r"'lightning_register_backends'",
    ):
        host.finish()


RAISING_HOOK = """
from lightning_core import hookimpl


@hookimpl
def lightning_register_backends():
    raise RuntimeError("registration fails on purpose")
"""


def test_a_registration_hook_that_raises_is_a_load_failure(tmp_path: Path) -> None:
    write_dist_info(tmp_path, "acme-raising", "acme_raising", RAISING_HOOK)
    env = {"PYTHONPATH": str(tmp_path)}
    listed = run_cli("plugins", "--json", env_extra={**env, STRICT_ENV: "0"})
    assert listed.returncode == 0, listed.stderr
    (failure,) = json.loads(listed.stdout)["failures"]
    assert failure["distribution"] == "acme-raising"
    assert "registration fails on purpose" in failure["error"]
    assert "Traceback" not in listed.stderr
    strict = run_cli("plugins", env_extra={**env, STRICT_ENV: "1"})
    assert strict.returncode == 1
    assert "acme-raising==1.2.3[acme_raising]" in strict.stderr


BROKEN = """
raise RuntimeError("this plugin is broken on purpose")
"""


def test_broken_plugin_is_reported_and_does_not_stop_others(tmp_path: Path) -> None:
    write_dist_info(tmp_path, "acme-broken", "acme_broken", BROKEN)
    env = {"PYTHONPATH": str(tmp_path), STRICT_ENV: "0"}
    result = run_cli("plugins", "--json", env_extra=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (failure,) = report["failures"]
    assert failure["distribution"] == "acme-broken"
    assert failure["version"] == "1.2.3"
    assert "broken on purpose" in failure["error"]
    assert "tidb-lightning-backend-tidb" in {d["distribution"] for d in report["distributions"]}


def test_broken_plugin_is_fatal_in_strict_mode(tmp_path: Path) -> None:
    write_dist_info(tmp_path, "acme-broken", "acme_broken", BROKEN)
    result = run_cli("plugins", env_extra={"PYTHONPATH": str(tmp_path), STRICT_ENV: "1"})
    assert result.returncode != 0
    assert "acme-broken==1.2.3[acme_broken]" in result.stderr
    assert "broken on purpose" in result.stderr


def test_unknown_component_mentions_failed_plugins(tmp_path: Path) -> None:
    write_dist_info(tmp_path, "acme-broken", "acme_broken", BROKEN)
    env = {"PYTHONPATH": str(tmp_path), STRICT_ENV: "0"}
    result = run_cli("--backend", "acme", "-d", str(tmp_path), env_extra=env)
    assert result.returncode == 1
    assert "unknown backend 'acme'" in result.stderr
    assert "failed to load: acme-broken==1.2.3[acme_broken]" in result.stderr


def test_broken_plugin_does_not_stop_an_import_that_does_not_use_it(
    tmp_path: Path, fresh_database: str
) -> None:
    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    write_dist_info(plugin_dir, "acme-broken", "acme_broken", BROKEN)
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src.t-schema.sql").write_text("CREATE TABLE t (id INT PRIMARY KEY);\n")
    (dump / "src.t.000.sql").write_text("INSERT INTO t VALUES (1),(2),(3);\n")
    config = tmp_path / "task.toml"
    route = f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{fresh_database}"\n'
    config.write_text(task_config(dump, extra=route))
    env = {"PYTHONPATH": str(plugin_dir)}
    result = run_cli("--config", str(config), env_extra={**env, STRICT_ENV: "0"})
    assert result.returncode == 0, result.stderr
    assert "acme-broken" in result.stderr  # the warning names the broken distribution
    strict = run_cli("--config", str(config), env_extra={**env, STRICT_ENV: "1"})
    assert strict.returncode == 1
    assert "acme-broken==1.2.3[acme_broken]" in strict.stderr


OPTIONS_PLUGIN = """
import attrs

from lightning_core import ConflictStrategyRecord, hookimpl
from lightning_core.builtin.conflicts import VerbStrategy


@attrs.frozen(kw_only=True)
class Options:
    batch_size: int = 10


@hookimpl
def lightning_register_conflict_strategies():
    return [ConflictStrategyRecord(
        name="acme", factory=lambda: VerbStrategy("acme", "INSERT INTO"), options_type=Options,
    )]
"""


def test_plugin_tables_are_validated_by_the_plugins_options_type(tmp_path: Path) -> None:
    write_dist_info(tmp_path, "acme-options", "acme_options", OPTIONS_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path)}
    config = tmp_path / "task.toml"
    base = f'[mydumper]\ndata-source-dir = "{tmp_path}"\n[tikv-importer]\nbackend = "tidb"\n'
    config.write_text(base + "[plugin.acme]\nbatch-size = 5\n")
    assert run_cli("plan", "--config", str(config), env_extra=env).returncode == 0
    config.write_text(base + "[plugin.acme]\nbatch-sise = 5\n")
    bad_key = run_cli("plan", "--config", str(config), env_extra=env)
    assert bad_key.returncode == 1
    assert str(config) in bad_key.stderr and "[plugin.acme]" in bad_key.stderr
    assert '"batch-size"' in bad_key.stderr
    config.write_text(base + "[plugin.nobody]\nx = 1\n")
    unknown = run_cli("plan", "--config", str(config), env_extra=env)
    assert unknown.returncode == 1
    assert "[plugin.nobody] configures no installed component" in unknown.stderr
    assert "acme" in unknown.stderr


LINES_READER = '''
from lightning_core import ReadPosition, RowBatch, SourceReaderRecord, hookimpl


class LinesReader:
    """Each line of the file is a row with one column, ``line``."""

    def __init__(self, *, chunk, mydumper, sql_mode, start=None):
        self.path = chunk.file.path
        self.offset = start.offset if start is not None else chunk.offset

    def batches(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            rows, offsets, at = [], [], self.offset
            for line in f:
                rows.append((line.rstrip(b"\\n"),))
                offsets.append(at)
                at += len(line)
        yield RowBatch(columns=("line",), rows=rows, offsets=offsets,
                       end=ReadPosition(offset=at, rows=len(rows)))

    def close(self):
        pass


@hookimpl
def lightning_register_source_readers():
    return [SourceReaderRecord(name="lines", formats=("lines",), factory=LinesReader)]
'''


def test_a_reader_plugin_adds_a_format_that_file_rules_can_name(
    tmp_path: Path, fresh_database: str, target_connection: object
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    write_dist_info(site, "acme-lines", "acme_lines", LINES_READER)
    dump = tmp_path / "dump"
    dump.mkdir()
    (dump / "src.t-schema.sql").write_text("CREATE TABLE t (line VARCHAR(20));\n")
    (dump / "words.txt").write_text("alpha\nbeta\ngamma\n")
    config = tmp_path / "task.toml"
    extra = (
        '[[mydumper.files]]\npattern = "^words\\\\.txt$"\nschema = "src"\ntable = "t"\n'
        'type = "lines"\n'
        f'[[routes]]\nschema-pattern = "src"\ntarget-schema = "{fresh_database}"\n'
    )
    config.write_text(task_config(dump, extra=extra))
    env = {"PYTHONPATH": str(site)}
    planned = run_cli("plan", "--config", str(config), env_extra=env)
    assert planned.returncode == 0, planned.stderr
    assert "words.txt [lines" in planned.stdout
    imported = run_cli("--config", str(config), env_extra=env)
    assert imported.returncode == 0, imported.stderr
    with target_connection.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(f"SELECT line FROM `{fresh_database}`.t ORDER BY line")
        assert [r[0] for r in cur.fetchall()] == ["alpha", "beta", "gamma"]
    without = run_cli("plan", "--config", str(config))
    assert without.returncode == 1
    assert "unknown type 'lines'" in without.stderr


def test_plugin_options_reach_every_factory_of_the_component() -> None:
    import attrs

    from lightning_core.config import config_from_toml
    from lightning_core.pipeline.workers import build_backend_worker
    from lightning_core.plugins import load_plugins
    from lightning_core.registry import BackendRecord, bind_options

    @attrs.frozen
    class Options:
        root: str = "/default"

    seen: dict[str, object] = {}

    def coordinator(*, config: object, task: str, options: Options) -> object:
        seen["backend"] = options
        return object()

    def worker(**kwargs: object) -> object:
        seen["worker"] = kwargs["options"]
        seen["encoder"] = kwargs["encoder"]
        return object()

    record = BackendRecord(
        name="optioned",
        factory=coordinator,  # type: ignore[arg-type]
        worker_factory=worker,  # type: ignore[arg-type]
        options_type=Options,
        encoder="kv",
    )
    registry = load_plugins().registry
    registry.add("backend", record, "test==0")
    config = config_from_toml(
        '[tikv-importer]\nbackend = "optioned"\n[plugin.optioned]\nroot = "/data"\n'
    )
    options = {"optioned": Options(root="/data")}
    bind_options(record, record.factory, options)(config=config, task="t")
    build_backend_worker(registry, config, "t", options)
    assert seen["backend"] == seen["worker"] == Options(root="/data")
    assert callable(seen["encoder"])  # the kv encoder's factory, found by name
    bind_options(record, record.factory, {})(config=config, task="t")
    assert seen["backend"] == Options()
