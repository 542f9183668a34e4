"""Named component records, one table per kind, with lookups that explain themselves."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

import attrs

from lightning_core.errors import PluginError
from lightning_core.interfaces import Backend, BackendWorker, Encoder, Target

Kind = Literal["backend", "source_reader", "encoder", "conflict_strategy", "checkpoint_store"]
KINDS: tuple[Kind, ...] = (
    "backend",
    "source_reader",
    "encoder",
    "conflict_strategy",
    "checkpoint_store",
)


@attrs.frozen
class KnownPackage:
    """Where a well-known component comes from: its distribution and its checkout directory."""

    distribution: str
    directory: str
    """The distribution's directory in the repository, relative to its root."""
    written: bool = True
    """False while the distribution is planned but not in the repository yet."""

    def hint(self) -> str:
        """What to tell a user who asked for the missing component."""
        if not self.written:
            return (
                f"it is not written yet: it will be distribution {self.distribution} "
                f"(./{self.directory} in the repository)"
            )
        # the distributions are not published to any package index yet
        return (
            f"install it with: pip install ./{self.directory} (from the repository root; "
            f"distribution {self.distribution})"
        )


#: Which distribution provides a well-known component that is missing.
KNOWN_PACKAGES: dict[tuple[Kind, str], KnownPackage] = {
    ("backend", "tidb"): KnownPackage("tidb-lightning-backend-tidb", "plugins/backend_tidb"),
    ("backend", "local"): KnownPackage("tidb-lightning-backend-local", "plugins/backend_local"),
    ("backend", "importer"): KnownPackage(
        "tidb-lightning-backend-importer", "plugins/backend_importer"
    ),
    ("encoder", "sql"): KnownPackage("tidb-lightning-backend-tidb", "plugins/backend_tidb"),
    ("encoder", "kv-native"): KnownPackage(
        "tidb-lightning-encoder-native", "plugins/encoder_native"
    ),
}


@attrs.frozen(kw_only=True)
class ComponentRecord:
    """What a registration hook yields: a named factory and the options it accepts."""

    name: str
    factory: Callable[..., Any]
    options_type: type | None = None
    """attrs class validating this component's ``[plugin.<name>]`` table, if it has one."""
    description: str = ""


@attrs.frozen(kw_only=True)
class BackendRecord(ComponentRecord):
    """A backend and what it can do.

    Every factory is called with keyword arguments, plus ``options=`` (the validated
    ``[plugin.<name>]`` table) when the record has an ``options_type``:

    - ``factory(config=, task=)`` → the coordinating ``Backend``, in the main process;
    - ``worker_factory(config=, task=, strategy=, encoder=)`` → a ``BackendWorker``, once in each
      worker process; ``strategy`` is the ``ConflictStrategy`` of ``on-duplicate``, ``encoder``
      the factory of the encoder this record names (its own options bound), or None;
    - ``target_factory(config=)`` → the ``Target``; None means the core's SQL target on the
      ``[tidb]`` server;
    - ``exporter(config=, out_dir=, tables=)`` → writes the tables of a store the backend keeps
      itself as a mydumper dump (``tidb-lightning-ctl --export``), returning the files written;
      None for backends whose data is on a server;
    - ``cluster_mode(config=, mode=)`` → switches the TiKV stores to ``mode`` (``import`` /
      ``normal``), or with ``mode=None`` reads their modes (``tidb-lightning-ctl
      --switch-mode`` / ``--fetch-mode``), one line per store; None for backends that do not
      write to TiKV.
    """

    factory: Callable[..., Backend]
    worker_factory: Callable[..., BackendWorker]
    target_factory: Callable[..., Target] | None = None
    exporter: Callable[..., list[str]] | None = None
    cluster_mode: Callable[..., list[str]] | None = None
    uses_engines: bool = False
    """True: the core closes and imports each engine once its chunks are written. False (tidb):
    rows are in the target when a writer returns; each table is one implicit engine."""
    needs_table_model: bool = False
    """True: workers get the table model (``TargetTable.model``), e.g. to encode KV pairs."""
    encoder: str | None = None
    """Name of the encoder record the workers use (``kv``, ``sql``), looked up in the registry so
    that a faster encoder can ship as a plugin."""
    preferred_encoder: str | None = None
    """An encoder used instead of ``encoder`` when it is installed (``kv-native``)."""

    def encoder_in(self, registry: Registry) -> str | None:
        """The name of the encoder to use with the plugins of ``registry``."""
        preferred = self.preferred_encoder
        if preferred is not None and preferred in registry.names("encoder"):
            return preferred
        return self.encoder

    requires_empty_target: bool = False
    """True when target tables must be empty (the KV backends)."""
    fork_safe: bool = True
    """False when the main process's ``Backend`` holds what a forked child must not inherit
    (gRPC channels, an open store): workers are then started with forkserver."""


@attrs.frozen(kw_only=True)
class SourceReaderRecord(ComponentRecord):
    """A reader; ``factory(chunk=..., config=..., start=...)`` returns a ``SourceReader``."""

    formats: tuple[str, ...]
    """Data file formats it reads (``sql``, ``csv``, ``parquet``, ...)."""
    raw_sql: bool = False
    """The factory accepts ``raw_sql=True`` and then yields batches with ``texts``."""


@attrs.frozen(kw_only=True)
class EncoderRecord(ComponentRecord):
    """An encoder; ``factory(**arguments)`` returns an ``Encoder`` for one table.

    The arguments depend on what the encoder makes: a ``sql`` encoder takes ``table=``
    (a ``TargetTable``), ``strategy=`` and ``config=``; a ``kv`` encoder takes ``table=`` (a
    ``TableInfo``) and the keyword arguments of ``lightning_core.TableKVEncoder``.
    """

    factory: Callable[..., Encoder[object]]


@attrs.frozen(kw_only=True)
class ConflictStrategyRecord(ComponentRecord):
    """A conflict strategy; ``factory()`` returns a ``ConflictStrategy``."""


@attrs.frozen(kw_only=True)
class CheckpointStoreRecord(ComponentRecord):
    """A checkpoint store for ``[checkpoint] driver = "<name>"``."""


T = TypeVar("T")


def bind_options(
    record: ComponentRecord, factory: Callable[..., T], options: Mapping[str, object]
) -> Callable[..., T]:
    """``factory`` of ``record`` with its ``[plugin.<name>]`` options bound as ``options=``
    (the defaults of its ``options_type`` when the configuration has no such table); records
    without an ``options_type`` get no ``options`` argument."""
    if record.options_type is None:
        return factory
    given = options.get(record.name)
    return functools.partial(factory, options=given if given is not None else record.options_type())


RECORD_TYPES: dict[Kind, type[ComponentRecord]] = {
    "backend": BackendRecord,
    "source_reader": SourceReaderRecord,
    "encoder": EncoderRecord,
    "conflict_strategy": ConflictStrategyRecord,
    "checkpoint_store": CheckpointStoreRecord,
}


@attrs.frozen
class Registered:
    """A record and the distribution (``name==version``) that registered it."""

    record: ComponentRecord
    origin: str


class Registry:
    """Component records by kind and name; refuses duplicates and explains unknown names."""

    def __init__(self) -> None:
        self._tables: dict[Kind, dict[str, Registered]] = {kind: {} for kind in KINDS}
        self.load_failures: dict[str, str] = {}
        """Distribution → error, for plugins that failed to load (filled by the plugin host)."""

    def add(self, kind: Kind, record: ComponentRecord, origin: str) -> None:
        """Register ``record`` under ``kind``; a second record of the same name is an error."""
        expected = RECORD_TYPES[kind]
        if not isinstance(record, expected):
            raise PluginError(
                f"{origin} registered {record!r} as a {kind}, but a {kind} must be a "
                f"{expected.__name__}; fix the plugin's registration hook"
            )
        table = self._tables[kind]
        if record.name in table:
            first = table[record.name].origin
            raise PluginError(
                f"{kind} {record.name!r} is registered twice: by {first} and by {origin}; "
                f"uninstall one of them"
            )
        if isinstance(record, SourceReaderRecord):
            for other in table.values():
                shared = set(record.formats) & set(other.record.formats)  # type: ignore[attr-defined]
                if shared:
                    raise PluginError(
                        f"source readers {other.record.name!r} ({other.origin}) and "
                        f"{record.name!r} ({origin}) both read {', '.join(sorted(shared))} "
                        "files; uninstall one of them"
                    )
        table[record.name] = Registered(record, origin)

    def add_all(self, kind: Kind, records: Iterable[ComponentRecord], origin: str) -> None:
        """Register every record of one hook result."""
        for record in records:
            self.add(kind, record, origin)

    def names(self, kind: Kind) -> list[str]:
        """Registered names of ``kind``, sorted."""
        return sorted(self._tables[kind])

    def entries(self, kind: Kind) -> list[Registered]:
        """Registered records of ``kind`` with their origin, sorted by name."""
        table = self._tables[kind]
        return [table[name] for name in sorted(table)]

    def get(self, kind: Kind, name: str) -> ComponentRecord:
        """The record named ``name``; an unknown name raises an error that says what to do."""
        table = self._tables[kind]
        if name in table:
            return table[name].record
        label = kind.replace("_", " ")
        installed = ", ".join(sorted(table)) or "none"
        message = f"unknown {label} {name!r} (installed: {installed})"
        close = difflib.get_close_matches(name, table, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        package = KNOWN_PACKAGES.get((kind, name))
        if package:
            message += f"; {package.hint()}"
        if self.load_failures:
            failed = "; ".join(f"{dist}: {err}" for dist, err in self.load_failures.items())
            message += f"; plugins that failed to load: {failed}"
        raise PluginError(message)

    def reader_formats(self) -> list[str]:
        """Every data file format some registered reader reads."""
        return sorted({f for e in self.entries("source_reader") for f in e.record.formats})  # type: ignore[attr-defined]

    def find_reader(self, data_format: str) -> SourceReaderRecord:
        """The source reader for a data file format."""
        for registered in self.entries("source_reader"):
            record = registered.record
            assert isinstance(record, SourceReaderRecord)
            if data_format in record.formats:
                return record
        raise PluginError(
            f"no source reader reads {data_format!r} files (readable: "
            f"{', '.join(self.reader_formats())}); "
            "install a reader plugin for that format or exclude the files with [mydumper] filter"
        )
