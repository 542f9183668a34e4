"""Command-line entry points: ``tidb-lightning`` and ``tidb-lightning-ctl``."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec

from lightning_core import __version__
from lightning_core.errors import CheckpointError, ImportInterrupted, LightningError

if TYPE_CHECKING:
    from lightning_core.checkpoints.state import TaskState

log = logging.getLogger("lightning")

_P = ParamSpec("_P")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}


def setup_logging(config: Any) -> None:
    """Log to ``[lightning] file`` (``-``: stderr) at ``[lightning] level``."""
    level = _LEVELS.get(str(config.lightning.level).lower(), logging.INFO)
    path = config.lightning.file
    if not path:  # TiDB Lightning's default: a timestamped file in the temporary directory
        stamp = time.strftime("%Y-%m-%dT%H.%M.%S")
        path = os.path.join(tempfile.gettempdir(), f"lightning.log.{stamp}")
    handler: logging.Handler
    if path == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s] [%(levelname)s] [%(name)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    global _logging_ready
    _logging_ready = True


def _import_parser() -> argparse.ArgumentParser:
    from lightning_core.flags import FlagParser, add_lightning_flags

    parser = FlagParser(
        prog="tidb-lightning",
        allow_abbrev=False,
        description="Import a mydumper/dumpling data source into TiDB or a MySQL-compatible "
        "server. Subcommands: `plan` (what would be imported), `check` (the prechecks alone), "
        "`plugins` (what is installed).",
    )
    add_lightning_flags(parser)
    parser.add_argument(
        "--plan", action="store_true", help="print what would be imported and stop (no server)"
    )
    parser.add_argument("--json", action="store_true", help="with --plan: print JSON")
    parser.add_argument(
        "--check",
        action="store_true",
        help="run the prechecks, print their results and stop (exit 1 when one fails)",
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"tidb-lightning {__version__}"
    )
    return parser


_logging_ready = False


def _fail(exc: LightningError, code: int = 1) -> int:
    if _logging_ready:  # once the log is set up, it records why the run ended
        log.error("%s", exc)
        log.debug("failure", exc_info=exc)
    print(f"Error: {exc}", file=sys.stderr, flush=True)
    return code


def _stop_on_signals() -> list[int]:
    """Ctrl-C and SIGTERM (``kill``, ``docker stop``, ``timeout``) both stop the import the same
    way: scheduling stops, batches in flight commit, the checkpoint is saved. Set here whatever
    the dispositions inherited (a background job ignores SIGINT). The returned list gets the
    signal number when SIGTERM arrived."""
    received: list[int] = []

    def on_terminate(signum: int, _frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_terminate)
    return received


def _stdout_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly with 128 + SIGPIPE, as shell
    tools do; stdout now goes to /dev/null so that the interpreter's last flush cannot fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


def _quiet_on_broken_pipe(command: Callable[_P, int]) -> Callable[_P, int]:
    """An entry point that ends without a traceback when its output is piped into ``head``."""

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> int:
        try:
            code = command(*args, **kwargs)
            sys.stdout.flush()
        except BrokenPipeError:
            return _stdout_closed()
        return code

    return run


@_quiet_on_broken_pipe
def main(argv: Sequence[str] | None = None) -> int:
    """``tidb-lightning``: import, ``plan`` or ``plugins``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["plugins"]:
        return plugins_main(args[1:])
    if args[:1] in (["plan"], ["check"]):
        args = [f"--{args[0]}", *args[1:]]
    elif args[:1] == ["import"]:
        args = args[1:]
    from lightning_core.flags import config_from_args

    parsed = _import_parser().parse_args(args)
    terminated = _stop_on_signals()
    try:
        config = config_from_args(parsed)
        from lightning_core.plugins import load_plugins

        host = load_plugins()
        host.validate_options(config, parsed.config)
        if parsed.plan:
            return _print_plan(config, host, as_json=parsed.json)
        setup_logging(config)
        from lightning_core.config import redacted
        from lightning_core.pipeline.runner import Importer

        log.info(
            "tidb-lightning %s starting, backend %s", __version__, config.tikv_importer.backend
        )
        log.info("config: %s", json.dumps(redacted(config), default=str, sort_keys=True))
        if parsed.check:
            return _run_checks(Importer(config, host))
        Importer(config, host).run()
    except ImportInterrupted as exc:
        if terminated:
            return _fail(ImportInterrupted(f"terminated (SIGTERM); {exc}"), code=143)
        return _fail(exc, code=130)
    except LightningError as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        print("Error: interrupted; run the same command again to resume", file=sys.stderr)
        return 143 if terminated else 130
    except Exception as exc:
        log.exception("internal error")
        print(
            f"Error: internal error {exc!r}; the log has the traceback; please report it",
            file=sys.stderr,
        )
        return 2
    log.info("import finished")
    return 0


def _run_checks(importer: Any) -> int:
    """``tidb-lightning check``: the prechecks' table; 1 when one failed."""
    from lightning_core.pipeline.precheck import failures, render_results

    results = importer.check()
    print(render_results(results), flush=True)
    failed = failures(results)
    if failed:
        print(
            f"Error: {len(failed)} of {len(results)} prechecks failed: "
            f"{', '.join(r.check for r in failed)}; fix them before importing",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return 0


def _print_plan(config: Any, host: Any, *, as_json: bool) -> int:
    from lightning_core.pipeline.plan import make_plan, plan_json, render_plan

    backend = config.tikv_importer.backend
    try:
        host.registry.get("backend", backend)
    except LightningError as exc:  # planning needs no backend; importing will
        print(f"Warning: {exc}", file=sys.stderr)
    plan = make_plan(config, host.registry.reader_formats())
    try:  # main() reports any other exception as an internal error
        print(plan_json(plan, backend) if as_json else render_plan(plan, backend), flush=True)
    except BrokenPipeError:
        raise SystemExit(_stdout_closed()) from None
    return 0


def plugins_main(argv: Sequence[str]) -> int:
    """``tidb-lightning plugins [--json]``: distributions, versions, hooks and components."""
    from lightning_core.flags import FlagParser

    parser = FlagParser(prog="tidb-lightning plugins", allow_abbrev=False)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parsed = parser.parse_args(list(argv))
    from lightning_core.plugins import load_plugins
    from lightning_core.registry import KINDS

    try:
        host = load_plugins()
    except LightningError as exc:
        return _fail(exc)
    by_origin: dict[str, list[dict[str, str]]] = {}
    for kind in KINDS:
        for entry in host.registry.entries(kind):
            by_origin.setdefault(entry.origin, []).append(
                {"kind": kind, "name": entry.record.name, "description": entry.record.description}
            )
    distributions: dict[str, dict[str, Any]] = {}
    for plugin in host.plugins:
        origin = f"{plugin.distribution}=={plugin.version}"
        dist = distributions.setdefault(
            origin,
            {
                "distribution": plugin.distribution,
                "version": plugin.version,
                "plugins": [],
                "components": by_origin.get(origin, []),
            },
        )
        dist["plugins"].append({"name": plugin.name, "hooks": host.hooks_of(plugin)})
    report = {
        "distributions": list(distributions.values()),
        "failures": [
            {
                "distribution": f.distribution,
                "version": f.version,
                "entry_point": f.name,
                "error": f.error,
            }
            for f in host.failures
        ],
    }
    if parsed.json:
        print(json.dumps(report, indent=2))
        return 0
    for dist in report["distributions"]:
        print(f"{dist['distribution']} {dist['version']}")
        for plugin in dist["plugins"]:
            print(f"  plugin {plugin['name']}: hooks {', '.join(plugin['hooks']) or '-'}")
        for comp in dist["components"]:
            print(f"  {comp['kind']:<17} {comp['name']:<10} {comp['description']}")
    for failure in report["failures"]:
        print(
            f"FAILED {failure['distribution']} {failure['version']} "
            f"[{failure['entry_point']}]: {failure['error']}"
        )
    return 0


def _forget_table(config: Any, host: Any, store: Any, backend: Any, name: str) -> str:
    """Remove one table's progress from the checkpoint and the backend; its quoted name."""
    from lightning_core.pipeline.plan import make_plan

    plan = make_plan(config, host.registry.reader_formats())
    wanted = name.replace("`", "").lower()
    for task in plan.tables:
        if f"{task.plan.target_schema}.{task.plan.target_table}".lower() == wanted:
            _forget_task(store, backend, task)
            return task.name
    known = ", ".join(t.name for t in plan.tables) or "none"
    raise LightningError(
        f"--checkpoint-remove: no table {name!r} in this task (tables: {known}); give `db`.`table` "
        "as the target names it, or all"
    )


def _forget_task(store: Any, backend: Any, task: Any, say: bool = False) -> None:
    """Forget a table's chunks and engines in the checkpoint and the backend (with ``say``,
    each engine is named as it is cleaned up)."""
    keys = [chunk.key for chunk in task.chunks]
    engines = [e.engine for e in task.engines] + [task.index_engine]
    store.append(
        [{"type": "forget", "table": task.name, "keys": keys, "engines": [e.tag for e in engines]}]
    )
    backend.forget_chunks(keys)
    for engine in engines:
        if say:
            print(f"Closing and cleaning up engine: {engine.tag} {engine.uuid}")
        backend.cleanup_engine(engine)


def _destroy_errors(config: Any, host: Any, store: Any, task_id: str, which: str) -> int:
    """``--checkpoint-error-destroy=all|TABLE``, as TiDB Lightning has it: each failed table
    (all of them, or the one named) is dropped on the target, its engines are cleaned up and
    its checkpoints forgotten, so that the next run imports it from the start."""
    from lightning_core.checkpoints.state import fold_records
    from lightning_core.pipeline.plan import make_plan
    from lightning_core.pipeline.sql_target import open_target
    from lightning_core.registry import BackendRecord, bind_options

    try:
        failed = _failed_tables(fold_records(store.read(), store.location), which)
        if not failed:
            print(
                f"no failed table{'' if which == 'all' else ' ' + which} in {store.location}; "
                "nothing destroyed"
            )
            return 0
        plan = make_plan(config, host.registry.reader_formats())
        tasks = {t.name: t for t in plan.tables}
        missing = [name for name in failed if name not in tasks]
        if missing:
            raise LightningError(
                f"--checkpoint-error-destroy: the failed tables {', '.join(missing)} are no "
                "longer in this task's data source; restore the source or run "
                "--checkpoint-remove=all"
            )
        record = host.registry.get("backend", config.tikv_importer.backend)
        assert isinstance(record, BackendRecord)
        options = host.validate_options(config)
        with contextlib.ExitStack() as stack:
            target = open_target(record, config, options)
            stack.callback(target.close)
            backend = bind_options(record, record.factory, options)(config=config, task=task_id)
            stack.callback(backend.close)
            for name in failed:
                task = tasks[name]
                table = target.table(task.plan.target_schema, task.plan.target_table)
                if table is not None:
                    print(f"Dropping table: {name}")
                    target.drop_table(table)
                _forget_task(store, backend, task, say=record.uses_engines)
    finally:
        store.close()
    print(
        f"destroyed {', '.join(failed)}: the next run imports "
        f"{'it' if len(failed) == 1 else 'them'} from the start"
    )
    return 0


def _export(config: Any, host: Any, out_dir: str, tables: str | None) -> int:
    from lightning_core.registry import BackendRecord, bind_options

    record = host.registry.get("backend", config.tikv_importer.backend)
    assert isinstance(record, BackendRecord)
    if record.exporter is None:
        raise LightningError(
            f"--export: the {record.name} backend keeps no store of its own to export (its "
            "tables are on the target server: dump them with mydumper or dumpling)"
        )
    wanted = [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    exporter = bind_options(record, record.exporter, host.validate_options(config))
    written = exporter(config=config, out_dir=out_dir, tables=wanted)
    print(f"exported to {out_dir}: {len(written)} files")
    return 0


def _cluster_mode(config: Any, host: Any, mode: str | None) -> int:
    """``--switch-mode=import|normal`` / ``--fetch-mode``: through the backend's record."""
    from lightning_core.registry import BackendRecord, bind_options

    record = host.registry.get("backend", config.tikv_importer.backend)
    assert isinstance(record, BackendRecord)
    if record.cluster_mode is None:
        raise LightningError(
            f"the {record.name} backend does not write to TiKV, so it has no TiKV mode to "
            'switch or fetch; use backend = "local" with [tidb] pd-addr'
        )
    switch = bind_options(record, record.cluster_mode, host.validate_options(config))
    for line in switch(config=config, mode=mode):
        print(line)
    return 0


def _engine_action(
    config: Any, host: Any, task: str, to_import: str | None, to_clean: str | None
) -> int:
    """``--import-engine`` / ``--cleanup-engine``: one engine of the task's plan, by UUID or
    by its tag (```db`.`table`:N``, -1 for the index engine)."""
    from lightning_core.pipeline.plan import make_plan
    from lightning_core.registry import BackendRecord, bind_options

    wanted = to_import if to_import is not None else to_clean
    assert wanted is not None
    plan = make_plan(config, host.registry.reader_formats())
    engines = [e.engine for t in plan.tables for e in t.engines]
    engines += [t.index_engine for t in plan.tables]
    found = [e for e in engines if wanted in (str(e.uuid), e.tag)]
    if not found:
        raise LightningError(
            f"no engine {wanted!r} in this task; its engines: "
            + ", ".join(f"{e.tag} ({e.uuid})" for e in engines[:10])
        )
    record = host.registry.get("backend", config.tikv_importer.backend)
    assert isinstance(record, BackendRecord)
    if not record.uses_engines:
        raise LightningError(
            f"the {record.name} backend has no engines to import or clean up: its rows are in "
            "the target as they are written"
        )
    backend = bind_options(record, record.factory, host.validate_options(config))(
        config=config, task=task
    )
    engine = found[0]
    try:
        if to_import is not None:
            backend.close_engine(engine)
            backend.import_engine(engine)
            print(f"engine {engine.tag} ({engine.uuid}) imported")
        else:
            backend.cleanup_engine(engine)
            print(f"engine {engine.tag} ({engine.uuid}) cleaned up")
    finally:
        backend.close()
    return 0


def _ignore_errors(store: Any, which: str) -> list[str]:
    """Set failed tables (all, or the named one) back to pending; their names."""
    from lightning_core.checkpoints.state import fold_records, table_record

    failed = _failed_tables(fold_records(store.read(), store.location), which)
    store.append([table_record(name, status="pending") for name in failed])
    return failed


def _failed_tables(state: TaskState | None, which: str) -> list[str]:
    """The failed tables of the checkpoint: all of them, or the one named."""
    wanted = which.replace("`", "").lower()
    return [
        name
        for name, table in (state.tables.items() if state is not None else ())
        if table.status == "failed" and wanted in ("all", name.replace("`", "").lower())
    ]


def _remove(config: Any, host: Any, store: Any, task: str, target: str) -> int:
    """``--checkpoint-remove``: forget all or one table."""
    backend = host.registry.get("backend", config.tikv_importer.backend).factory(
        config=config, task=task
    )
    try:
        try:
            empty = not store.read()
        except CheckpointError:  # a damaged checkpoint: removing it is the way out
            empty = False
        if target == "all" or empty:
            store.reset()  # an empty store: what reading created (the mysql driver's table)
        if target == "all":
            backend.forget_task()  # also the rows of a checkpoint deleted by hand
        if empty:
            print(f"no checkpoint in {store.location}; nothing removed")
        elif target == "all":
            print(f"checkpoints removed from {store.location}")
        else:
            name = _forget_table(config, host, store, backend, target)
            print(f"checkpoints of {name} removed from {store.location}")
    finally:
        backend.close()
        store.close()
    return 0


def _state_json(state: TaskState) -> dict[str, Any]:
    """What ``--checkpoint-dump`` without a directory prints."""
    return {
        "settings": state.settings,
        "files": state.files,
        "chunks": {
            k: {"offset": v.progress.position.offset, "rows": v.progress.rows, "done": v.done}
            for k, v in state.chunks.items()
        },
        "tables": {
            k: {
                "status": v.status,
                "error": v.error,
                "rows_before": v.rows_before,
                "table_id": v.table_id,
            }
            for k, v in state.tables.items()
        },
        "engines": state.engines,
        "completed": state.completed,
    }


@_quiet_on_broken_pipe
def ctl_main(argv: Sequence[str] | None = None) -> int:
    """``tidb-lightning-ctl``: inspect or remove checkpoints."""
    from lightning_core.flags import FlagParser, add_lightning_flags, config_from_args

    parser = FlagParser(prog="tidb-lightning-ctl", allow_abbrev=False)
    add_lightning_flags(parser)
    parser.add_argument(
        "--checkpoint-remove",
        metavar="all|`db`.`table`",
        help="forget the checkpoints of the whole task (all) or of one table, which then starts "
        "over on the next run (empty it first); imported rows stay in the target",
    )
    parser.add_argument(
        "--checkpoint-error-destroy",
        metavar="all|`db`.`table`",
        help="start failed tables (all, or one) over: drop each on the target with what it "
        "holds, clean up its engines and forget its checkpoints; the next run imports it anew",
    )
    parser.add_argument(
        "--checkpoint-error-ignore",
        metavar="all|`db`.`table`",
        help="clear the failed state of tables (all, or one) so that the next run retries what "
        "they have not done; the rows already imported are kept",
    )
    parser.add_argument(
        "--checkpoint-dump",
        nargs="?",
        const="",
        metavar="DIR",
        help="write the checkpoint into DIR as tables.csv, engines.csv and chunks.csv (as TiDB "
        "Lightning does); without DIR, print it as JSON",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="write the tables of the backend's store (the local backend's embedded store) to "
        "DIR as a mydumper dump that myloader and tidb-lightning load",
    )
    parser.add_argument(
        "--export-tables",
        metavar="db.table,...",
        help="with --export: only these tables",
    )
    parser.add_argument(
        "--import-engine",
        metavar="UUID|`db`.`table`:N",
        help="close and import one engine of the task (KV backends), by UUID or tag",
    )
    parser.add_argument(
        "--cleanup-engine",
        metavar="UUID|`db`.`table`:N",
        help="delete what the backend keeps of one engine (KV backends), by UUID or tag",
    )
    parser.add_argument(
        "--switch-mode",
        choices=("import", "normal"),
        help="switch every TiKV store of [tidb] pd-addr to import or normal mode",
    )
    parser.add_argument(
        "--fetch-mode", action="store_true", help="print the mode of every TiKV store"
    )
    parsed = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        config = config_from_args(parsed)
        from lightning_core.checkpoints.state import fold_records
        from lightning_core.pipeline.task import task_id_of
        from lightning_core.plugins import load_plugins

        host = load_plugins()
        if parsed.switch_mode is not None or parsed.fetch_mode:
            return _cluster_mode(config, host, parsed.switch_mode)
        if parsed.export is not None:
            return _export(config, host, parsed.export, parsed.export_tables)
        task = task_id_of(config)
        if parsed.import_engine is not None or parsed.cleanup_engine is not None:
            return _engine_action(config, host, task, parsed.import_engine, parsed.cleanup_engine)
        store = host.registry.get("checkpoint_store", config.checkpoint.driver).factory(
            config=config, task=task
        )
        if parsed.checkpoint_error_destroy is not None:
            return _destroy_errors(config, host, store, task, parsed.checkpoint_error_destroy)
        if parsed.checkpoint_remove is not None:
            return _remove(config, host, store, task, parsed.checkpoint_remove)
        if parsed.checkpoint_error_ignore is not None:
            try:
                cleared = _ignore_errors(store, parsed.checkpoint_error_ignore)
            finally:
                store.close()
            print(
                f"failed state cleared for {', '.join(cleared)} in {store.location}"
                if cleared
                else f"no failed table in {store.location}"
            )
            return 0
        if parsed.checkpoint_dump is not None:
            try:
                state = fold_records(store.read(), store.location)
            finally:
                store.close()
            if state is None:
                print(f"no checkpoint in {store.location}; nothing to dump")
            elif parsed.checkpoint_dump:
                from lightning_core.checkpoints.csv_dump import dump_csv

                written = dump_csv(state, parsed.checkpoint_dump)
                print(f"checkpoint of {store.location} dumped: {', '.join(written)}")
            else:
                print(json.dumps(_state_json(state), indent=2))
            return 0
        parser.error(
            "nothing to do: give --checkpoint-remove, --checkpoint-error-ignore, "
            "--checkpoint-error-destroy or --checkpoint-dump"
        )
    except LightningError as exc:
        return _fail(exc)
    return 0
