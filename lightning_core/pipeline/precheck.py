"""Checks before an import (``[lightning] check-requirements``, ``tidb-lightning check``).

TiDB Lightning's prechecks that apply here: the target is reachable and of a version the
backend supports, the user has the rights the import needs, every source file is readable and
classified, the backend has the room it needs (asked of the backend: ``Backend.prepare``), the
target tables are empty for the backends that need it, and no source statement is larger than
the server's ``max_allowed_packet``. Each check gives pass, warn or fail with a reason; every
check runs even when an earlier one failed, so that one run lists everything to fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import attrs

from lightning_core.errors import LightningError
from lightning_core.pipeline.progress import human_bytes
from lightning_core.pipeline.schema import databases_to_create
from lightning_core.pipeline.sql_target import SqlTarget
from lightning_core.source.compression import open_decompressed

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningConfig
    from lightning_core.interfaces import Backend, SourceFile, Target
    from lightning_core.pipeline.plan import ImportPlan
    from lightning_core.registry import BackendRecord

log = logging.getLogger(__name__)

Outcome = Literal["pass", "warn", "fail"]

#: Rights on every target database without which the import fails.
REQUIRED_PRIVILEGES = ("SELECT", "INSERT", "DELETE", "CREATE", "ALTER")
#: Rights that only some steps need (views over stand-in tables, ``--checkpoint-error-destroy``).
USEFUL_PRIVILEGES = ("DROP",)
#: The oldest TiDB whose cluster the KV backends can import into (TiDB Lightning's rule).
KV_BACKEND_MIN_TIDB = (4, 0)

_TIDB_VERSION = re.compile(r"TiDB-v?(\d+)\.(\d+)", re.I)


@attrs.frozen
class CheckResult:
    """The outcome of one precheck."""

    check: str
    outcome: Outcome
    reason: str


def _shown(names: Sequence[str], limit: int = 5) -> str:
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


class Prechecks:
    """The prechecks of one task; ``run()`` returns one result per check.

    :param target: None when it could not be opened (``target_error`` says why).
    :param backend: None when it could not be created (``backend_error`` says why).
    :param resuming: the checkpoint holds progress: rows on the target may be this task's.
    :param scan_statements: read the SQL files that could hold a statement longer than
        ``max_allowed_packet`` (``tidb-lightning check``); an import leaves that to its writers,
        which stop at a row that long with its ``file:offset`` before sending it.
    """

    def __init__(
        self,
        *,
        config: LightningConfig,
        record: BackendRecord,
        plan: ImportPlan,
        target: Target | None,
        backend: Backend | None,
        resuming: bool,
        target_error: str = "",
        backend_error: str = "",
        scan_statements: bool = True,
    ) -> None:
        self._config = config
        self._scan_statements = scan_statements
        self._record = record
        self._plan = plan
        self._target = target
        self._backend = backend
        self._resuming = resuming
        self._target_error = target_error
        self._backend_error = backend_error

    def run(self) -> list[CheckResult]:
        """Every check, in order; those that ask the target are not run when it is not
        reachable (a warning each: the target's failure says what to fix)."""
        on_server = not self._record.uses_engines  # the backend writes its ledger to the target
        checks: list[tuple[str, Callable[[], tuple[Outcome, str]], bool]] = [
            ("target", self._reachable, False),
            ("rights", self._rights, True),
            ("source", self._source, False),
            ("space", self._space, on_server),
            ("empty tables", self._empty_tables, True),
            ("max-allowed-packet", self._packet, True),
        ]
        results: list[CheckResult] = []
        for name, check, needs_target in checks:
            outcome: Outcome
            if needs_target and results[0].outcome == "fail":
                outcome, reason = "warn", "not checked: the target is not reachable"
            else:
                try:
                    outcome, reason = check()
                except LightningError as exc:
                    outcome, reason = "fail", str(exc)
            results.append(CheckResult(name, outcome, reason))
            log.info("precheck %s: %s: %s", name, outcome, reason)
        return results

    # --- the checks -------------------------------------------------------------------------

    def _reachable(self) -> tuple[Outcome, str]:
        if self._target is None:
            return "fail", self._target_error
        target = self._target
        if not isinstance(target, SqlTarget):
            return "pass", f"{target.location} is open"
        version = target.version  # the first statement: a target that is down fails here
        found = _TIDB_VERSION.search(version)
        if found is not None and self._record.uses_engines:
            major_minor = (int(found.group(1)), int(found.group(2)))
            if major_minor < KV_BACKEND_MIN_TIDB:
                return "fail", (
                    f"TiDB {version} at {target.location}: the {self._record.name} backend "
                    "needs TiDB 4.0 or later; upgrade it or use --backend tidb"
                )
        return "pass", f"{version} at {target.location}"

    def _rights(self) -> tuple[Outcome, str]:
        target = self._target
        if target is None:
            return "fail", "no target to ask (see the target check)"
        if not isinstance(target, SqlTarget):
            return "pass", f"the {self._record.name} backend writes to {target.location} itself"
        schemas = sorted(
            {name for name, _ in databases_to_create(self._plan)}
            | {t.plan.target_schema for t in self._plan.tables}
        )
        user = self._config.tidb.user
        try:
            held = target.privileges(schemas)
            role = target.has_role()
        except LightningError as exc:
            return "warn", f"the rights of user {user!r} could not be read: {exc}"
        missing = {
            schema: [p for p in REQUIRED_PRIVILEGES if p not in held[schema]] for schema in schemas
        }
        lacking = {schema: rights for schema, rights in missing.items() if rights}
        if lacking:
            listed = "; ".join(f"{', '.join(r)} on `{s}`" for s, r in lacking.items())
            if role:  # a role's rights are not in the user's grants: it may have them
                return "warn", f"user {user!r} lacks {listed}, unless its active role has them"
            return "fail", (
                f"user {user!r} lacks {listed}; grant them (GRANT {', '.join(REQUIRED_PRIVILEGES)}"
                " ON `db`.* TO ...) or import as a user who has them"
            )
        useful = sorted({p for s in schemas for p in USEFUL_PRIVILEGES if p not in held[s]})
        if useful:
            return "warn", (
                f"user {user!r} lacks {', '.join(useful)} on some target databases: views and "
                "tidb-lightning-ctl --checkpoint-error-destroy need it"
            )
        return "pass", f"user {user!r} may {', '.join(REQUIRED_PRIVILEGES)} on {len(schemas)} " + (
            "database" if len(schemas) == 1 else "databases"
        )

    def _source(self) -> tuple[Outcome, str]:
        source = self._plan.source
        files = [f for t in source.tables for f in (t.schema_file, *t.data_files) if f]
        files += [f for _, f in source.schemas if f is not None]
        unreadable = list(_unreadable(files))
        if unreadable:
            return "fail", (
                f"{len(unreadable)} files cannot be read: {_shown(unreadable)}; fix their "
                "permissions or compression, or exclude them with [mydumper] filter"
            )
        data = sum(len(t.data_files) for t in source.tables)
        summary = (
            f"{len(files)} files readable: {data} data files of {len(self._plan.tables)} "
            f"tables, {len(files) - data} schema files"
        )
        if source.ignored:
            summary += f"; {len(source.ignored)} files of kinds that are not imported"
        if source.unmatched:
            return "warn", (
                f"{summary}; {len(source.unmatched)} files match no file rule and are not "
                f"imported: {_shown(list(source.unmatched))}"
            )
        return "pass", summary

    def _space(self) -> tuple[Outcome, str]:
        if self._backend is None:
            return "fail", self._backend_error
        total = self._plan.total_bytes
        self._backend.prepare(total)  # raises with what is missing: space, files, rights
        return "pass", (
            f"the {self._record.name} backend is ready for {human_bytes(total)} of source data"
        )

    def _empty_tables(self) -> tuple[Outcome, str]:
        name = self._record.name
        if not self._record.requires_empty_target:
            return "pass", f"the {name} backend imports into tables with rows too"
        if self._resuming:
            return "pass", "the task resumes: the checkpoint knows the rows it imported"
        target = self._target
        if target is None:
            return "fail", "no target to ask (see the target check)"
        filled = []
        for task in self._plan.tables:
            table = target.table(task.plan.target_schema, task.plan.target_table)
            if table is not None and target.count_rows(table):
                filled.append(task.name)
        if filled:
            return "fail", (
                f"the {name} backend needs empty tables, but {_shown(filled)} have rows; empty "
                "them (TRUNCATE TABLE) or use --backend tidb"
            )
        return "pass", f"the {len(self._plan.tables)} target tables are empty or new"

    def _packet(self) -> tuple[Outcome, str]:
        target = self._target
        if self._record.uses_engines or not isinstance(target, SqlTarget):
            return "pass", f"the {self._record.name} backend sends no SQL statements with rows"
        limit = target.statement_limit()
        if not self._scan_statements:
            return "pass", (
                "rows are sent in statements of at most logical-import-batch-size; a row longer "
                f"than max_allowed_packet ({human_bytes(limit)}) stops its table with its "
                "file:offset (tidb-lightning check reads the source for such statements)"
            )
        largest, where = _largest_statement(self._plan.data_files, limit, self._sql_mode)
        if largest > limit:
            return "warn", (
                f"the statement at {where} is {human_bytes(largest)}, more than "
                f"max_allowed_packet ({human_bytes(limit)}, the smaller of the server's and "
                "[tidb] max-allowed-packet): rows are sent in smaller statements, but a row "
                "that long stops its table; raise max_allowed_packet on the server and in [tidb]"
            )
        return "pass", (
            f"no source statement is longer than max_allowed_packet ({human_bytes(limit)})"
        )

    @property
    def _sql_mode(self) -> str:
        return self._config.tidb.sql_mode or ""


def _unreadable(files: Sequence[SourceFile]) -> Iterator[str]:
    """Why each file whose first byte cannot be read (permissions, broken compression) fails."""
    for file in files:
        try:
            with open_decompressed(file.path, file.compression) as stream:
                stream.read(1)
        except LightningError as exc:  # says where
            yield str(exc)
        except (OSError, EOFError, ValueError) as exc:
            yield f"{file.path}: {exc or type(exc).__name__}"


def _largest_statement(files: Sequence[SourceFile], limit: int, sql_mode: str) -> tuple[int, str]:
    """The longest statement of the SQL data files that could hold one over ``limit`` bytes
    (larger files, compressed ones) and where it starts."""
    from lightning_core.source.sql_reader import statement_ends

    largest, where = 0, ""
    for file in files:
        if file.format != "sql" or (file.compression is None and file.size <= limit):
            continue
        start = 0
        try:
            for end in statement_ends(file.path, file.compression, sql_mode):
                if end - start > largest:
                    largest, where = end - start, f"{file.path}:{start}"
                start = end
        except LightningError as exc:  # the source check names the file
            log.debug("precheck max-allowed-packet: %s", exc)
    return largest, where


def render_results(results: Sequence[CheckResult]) -> str:
    """The results as a table: check, result, reason."""
    width = max(len(r.check) for r in results)
    lines = [f"{'check':<{width}}  result  reason"]
    lines += [f"{r.check:<{width}}  {r.outcome:<6}  {r.reason}" for r in results]
    return "\n".join(lines)


def failures(results: Sequence[CheckResult]) -> list[CheckResult]:
    """The failed checks."""
    return [r for r in results if r.outcome == "fail"]
