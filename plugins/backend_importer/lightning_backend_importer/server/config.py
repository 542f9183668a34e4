"""tikv-importer.toml: the keys of tikv-importer v5.0.6's template and configuration, read
strictly (an unknown key aborts start-up naming it, as the original's ``deny_unknown_fields``
does), then the command-line flags on top.

Keys the original accepts but does not use (``num-import-sst-jobs``, ``stream-channel-window``,
``max-prepare-duration``, the ``[rocksdb]`` tuning of its engine databases, ``[metric]``'s push
gateway) are accepted and validated here too, and have no effect. ``[import] store-dir`` is this
implementation's own key: the embedded store ImportEngine ingests into when a request names no
PD address.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, override

from lightning_core import ConfigError
from lightning_core.config import parse_byte_size, parse_duration

MIB = 1 << 20
#: ``--log-level`` / ``log-level`` values, as the original names them.
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "critical", "off")

Size = Annotated[int, "importer:size"]
Duration = Annotated[float, "importer:duration"]


@attrs.frozen(kw_only=True)
class ServerSection:
    """``[server]``: the gRPC listener."""

    addr: str = "127.0.0.1:20160"
    """``host:port`` the ImportKV service listens on (the template says ``0.0.0.0:8287``)."""
    advertise_addr: str = ""
    """Accepted as TiKV's key; tikv-importer never advertises itself."""
    grpc_concurrency: int = 16
    """Completion queues of the original; here it bounds the concurrent RPCs besides
    ``[import] num-threads``."""
    grpc_concurrent_stream: int = 1024
    """Concurrent streams per connection."""
    grpc_stream_initial_window_size: Size = 2 * MIB
    """HTTP/2 initial window of each stream."""
    grpc_keepalive_time: Duration = 10.0
    """Seconds between keepalive pings."""
    grpc_keepalive_timeout: Duration = 3.0
    """Seconds a keepalive ping may go unanswered."""


@attrs.frozen(kw_only=True)
class StorageSection:
    """``[storage]``: only ``data-dir``, where the original leaves its panic mark."""

    data_dir: str = "./"


@attrs.frozen(kw_only=True)
class MetricSection:
    """``[metric]``: the original's Prometheus push gateway (accepted; ``/metrics`` serves)."""

    interval: Duration = 15.0
    address: str = ""
    job: str = "tikv-importer"


@attrs.frozen(kw_only=True)
class SecuritySection:
    """``[security]``: TLS for the listener (with client certificates when a CA is given)."""

    ca_path: str = ""
    """CA that client certificates must be signed by; empty: clients are not checked."""
    cert_path: str = ""
    """The server's certificate; with ``key-path`` it turns TLS on."""
    key_path: str = attrs.field(default="", repr=False)
    """The server's private key."""
    cert_allowed_cn: tuple[str, ...] = ()
    """Common names a client certificate must have (empty: any)."""


@attrs.frozen(kw_only=True)
class ColumnFamilySection:
    """``[rocksdb.defaultcf]`` / ``[rocksdb.writecf]``: accepted as the template has them."""

    write_buffer_size: Size = 1 << 30
    max_write_buffer_number: int = 8
    compression_per_level: tuple[str, ...] = ("lz4", "no", "no", "no", "no", "no", "lz4")


@attrs.frozen(kw_only=True)
class RocksdbSection:
    """``[rocksdb]``: the original's engine tuning; accepted, the engines here are the local
    backend's sorted runs."""

    max_background_jobs: int = 8
    defaultcf: ColumnFamilySection = attrs.Factory(ColumnFamilySection)
    writecf: ColumnFamilySection = attrs.Factory(ColumnFamilySection)


@attrs.frozen(kw_only=True)
class ImportSection:
    """``[import]``: engines and their import."""

    import_dir: str = "/tmp/tikv/import"
    """Engines live here: ``.temp/<uuid>`` while open, ``<uuid>`` once closed."""
    store_dir: str = ""
    """This implementation's key: the embedded store ImportEngine fills when the request has
    no PD address (empty: such a request is refused)."""
    num_threads: int = 16
    """Threads serving RPCs."""
    num_import_jobs: int = 24
    """ImportEngine requests run at the same time."""
    num_import_sst_jobs: int = 2
    """Accepted and unused, as in the original."""
    max_prepare_duration: Duration = 300.0
    """Accepted and unused, as in the original."""
    region_split_size: Size = 512 * MIB
    """Size of the ranges an engine is cut into at close."""
    stream_channel_window: int = 128
    """Accepted and unused, as in the original."""
    max_open_engines: int = 8
    """Engines open for writing at once; one more is refused until another is closed."""
    upload_speed_limit: Size = 512 * MIB
    """Bytes per second sent to TiKV stores at import."""
    min_available_ratio: float = 0.05
    """A store's free share of its capacity below which uploads wait."""


@attrs.frozen(kw_only=True)
class ImporterConfig:
    """The whole tikv-importer.toml."""

    log_level: str = "info"
    log_file: str = ""
    """Log file; empty: standard error."""
    log_rotation_timespan: Duration = 86400.0
    """Accepted; the log is not rotated."""
    status_server_address: str = ""
    """``host:port`` of the HTTP status server (``/metrics``, ``/status``); empty: none."""
    storage: StorageSection = attrs.Factory(StorageSection)
    server: ServerSection = attrs.Factory(ServerSection)
    metric: MetricSection = attrs.Factory(MetricSection)
    security: SecuritySection = attrs.Factory(SecuritySection)
    rocksdb: RocksdbSection = attrs.Factory(RocksdbSection)
    import_: ImportSection = attrs.Factory(ImportSection)


def _kebab(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)

    def attrs_hook(cl: type) -> Callable[[Any, Any], Any]:
        renames: dict[str, Any] = {
            f.name: override(rename=_kebab(f.name)) for f in attrs.fields(cl)
        }
        return make_dict_structure_fn(cl, converter, _cattrs_forbid_extra_keys=True, **renames)

    def strict(kind: type) -> Callable[[Any, Any], Any]:
        def hook(value: Any, _type: Any) -> Any:
            if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
                if kind is float and isinstance(value, int) and not isinstance(value, bool):
                    return float(value)
                raise ValueError(f"expected {kind.__name__}, got {value!r}")
            return value

        return hook

    converter.register_structure_hook_factory(attrs.has, attrs_hook)
    for kind in (bool, int, float, str):
        converter.register_structure_hook(kind, strict(kind))
    converter.register_structure_hook_func(
        lambda t: t == Size, lambda value, _t: parse_byte_size(value)
    )
    converter.register_structure_hook_func(
        lambda t: t == Duration, lambda value, _t: parse_duration(value)
    )
    return converter


_CONVERTER = _converter()


def _problems(exc: BaseException, path: str) -> list[str]:
    if isinstance(exc, ForbiddenExtraKeysError):
        where = f"in [{path}]" if path else "at the top level"
        return [f'unknown key "{key}" {where}' for key in sorted(exc.extra_fields)]
    if isinstance(exc, ClassValidationError):
        found: list[str] = []
        for inner in exc.exceptions:
            notes = [n for n in getattr(inner, "__notes__", []) if hasattr(n, "name")]
            name = notes[0].name if notes else ""
            key = _kebab(name)
            inner_path = f"{path}.{key}" if path and key else key or path
            found.extend(_problems(inner, inner_path))
        return found
    return [f"invalid value for {path}: {exc}"]


def parse_config(data: Mapping[str, Any], source: str) -> ImporterConfig:
    """Validate a parsed tikv-importer.toml.

    :raises ConfigError: one line per problem, each naming ``source`` and the key.
    """
    try:
        config = _CONVERTER.structure(dict(data), ImporterConfig)
    except (ClassValidationError, ForbiddenExtraKeysError) as exc:
        lines = _problems(exc, "")
        raise ConfigError("\n".join(f"{source}: {line}" for line in lines)) from exc
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    validate(config, source)
    return config


def load_config(path: str | None) -> ImporterConfig:
    """The configuration of ``path`` (the code defaults when None)."""
    if path is None:
        return ImporterConfig()
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, path)


def validate(config: ImporterConfig, source: str) -> None:
    """The original's checks: counts and sizes above zero, a ratio not below zero."""
    section = config.import_
    positive = (
        "num_threads",
        "num_import_jobs",
        "num_import_sst_jobs",
        "region_split_size",
        "stream_channel_window",
        "max_open_engines",
        "upload_speed_limit",
    )
    for name in positive:
        if getattr(section, name) <= 0:
            raise ConfigError(f"{source}: [import] {_kebab(name)} must be greater than 0")
    if section.min_available_ratio < 0:
        raise ConfigError(f"{source}: [import] min-available-ratio must not be negative")
    if config.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(
            f"{source}: log-level {config.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    if bool(config.security.cert_path) != bool(config.security.key_path):
        raise ConfigError(f"{source}: [security] cert-path and key-path go together")
