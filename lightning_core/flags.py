"""TiDB Lightning's command-line flags, and a configuration built from a file plus flags.

Lightning parses flags the Go way, so every long flag is accepted with one dash or two
(``-config x``, ``--config=x``) and boolean flags take an optional ``=value``
(``--check-requirements=false``). Flags override the file; a flag that is not given (or is
given an empty string, as Lightning ignores those) leaves the file's value alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import attrs

from lightning_core.config import (
    LightningConfig,
    apply_environment,
    load_config_file,
    parse_log_level,
    parse_post_op_level,
)

__all__ = ["add_lightning_flags", "apply_flags", "config_from_args", "parse_go_bool"]

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_go_bool(text: str) -> bool:
    """A boolean spelt as Go's ``strconv.ParseBool`` accepts it (``true``, ``0``, ``F``, ...).

    :raises argparse.ArgumentTypeError: another value.
    """
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}: use true or false")


def _as_type(parse: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"invalid {what} {text!r}: {exc}") from None

    convert.__name__ = what
    return convert


_log_level = _as_type(parse_log_level, "log level")
_post_op_level = _as_type(parse_post_op_level, "level")

# Flag destination -> (config section, field) it overrides.
_TARGETS: dict[str, tuple[str, str]] = {
    "data_source_dir": ("mydumper", "data_source_dir"),
    "log_level": ("lightning", "level"),
    "log_file": ("lightning", "file"),
    "backend": ("tikv_importer", "backend"),
    "sorted_kv_dir": ("tikv_importer", "sorted_kv_dir"),
    "tidb_host": ("tidb", "host"),
    "tidb_port": ("tidb", "port"),
    "tidb_user": ("tidb", "user"),
    "tidb_password": ("tidb", "password"),
    "tidb_status": ("tidb", "status_port"),
    "pd_urls": ("tidb", "pd_addr"),
    "importer": ("tikv_importer", "addr"),
    "status_addr": ("lightning", "status_addr"),
    "server_mode": ("lightning", "server_mode"),
    "check_requirements": ("lightning", "check_requirements"),
    "on_duplicate": ("tikv_importer", "on_duplicate"),
    "region_concurrency": ("lightning", "region_concurrency"),
    "enable_checkpoint": ("checkpoint", "enable"),
    "no_schema": ("mydumper", "no_schema"),
    "checksum": ("post_restore", "checksum"),
    "analyze": ("post_restore", "analyze"),
    "ca": ("security", "ca_path"),
    "cert": ("security", "cert_path"),
    "key": ("security", "key_path"),
    "redact_info_log": ("security", "redact_info_log"),
    "filter": ("mydumper", "filter"),
}


def _spellings(name: str) -> list[str]:
    """``-name`` and ``--name``: Go's flag package accepts both."""
    return [f"-{name}", f"--{name}"]


def _add_bool(group: Any, name: str, dest: str, help_text: str) -> None:
    group.add_argument(
        *_spellings(name),
        dest=dest,
        nargs="?",
        const=True,
        default=None,
        type=parse_go_bool,
        metavar="BOOL",
        help=f"{help_text} (--{name} or --{name}=false)",
    )


class FlagParser(argparse.ArgumentParser):
    """An argument parser that, like Go's flag package, accepts only whole flag names.

    ``allow_abbrev=False`` does not stop Python 3.11 from matching ``-back`` to ``-backend``
    (single-dash long options), so prefix matching is switched off here entirely.
    """

    def _get_option_tuples(self, option_string: str) -> list[Any]:
        return []


def add_lightning_flags(parser: argparse.ArgumentParser) -> None:
    """Add TiDB Lightning's flags to ``parser``; :func:`config_from_args` reads them back."""
    group = parser.add_argument_group("tidb-lightning")

    def add(names: list[str], dest: str, help_text: str, **kw: Any) -> None:
        group.add_argument(*names, dest=dest, default=None, help=help_text, **kw)

    add([*_spellings("config"), "-c"], "config", "tidb-lightning.toml to read", metavar="FILE")
    add(_spellings("d"), "data_source_dir", "directory of the dump to import", metavar="DIR")
    add(
        ["-L", *_spellings("log-level")],
        "log_level",
        "log level: debug, info, warn, error, fatal",
        type=_log_level,
        metavar="LEVEL",
    )
    add(_spellings("log-file"), "log_file", "log file path ('-' for stdout)", metavar="FILE")
    add(
        _spellings("backend"),
        "backend",
        "backend: local, importer, tidb, or a plugin's",
        metavar="NAME",
    )
    add(
        _spellings("sorted-kv-dir"),
        "sorted_kv_dir",
        "local backend's sort directory",
        metavar="DIR",
    )
    add(_spellings("tidb-host"), "tidb_host", "target server host", metavar="HOST")
    add(_spellings("tidb-port"), "tidb_port", "target server SQL port", type=int, metavar="PORT")
    add(_spellings("tidb-user"), "tidb_user", "user name on the target", metavar="USER")
    add(
        _spellings("tidb-password"),
        "tidb_password",
        "password on the target; other users can read it in the process list, so prefer "
        "the TIDB_LIGHTNING_TIDB_PASSWORD environment variable",
        metavar="PASSWORD",
    )
    add(_spellings("tidb-status"), "tidb_status", "TiDB status port", type=int, metavar="PORT")
    add(_spellings("pd-urls"), "pd_urls", "PD endpoint address(es)", metavar="ADDR")
    add(_spellings("importer"), "importer", "tikv-importer address (host:port)", metavar="ADDR")
    add(_spellings("status-addr"), "status_addr", "HTTP status server address", metavar="ADDR")
    add(
        _spellings("on-duplicate"),
        "on_duplicate",
        "tidb backend: replace, ignore or error",
        metavar="ACTION",
    )
    add(
        _spellings("region-concurrency"),
        "region_concurrency",
        "parallel encoders",
        type=int,
        metavar="N",
    )
    _add_bool(group, "check-requirements", "check_requirements", "check the cluster first")
    _add_bool(group, "enable-checkpoint", "enable_checkpoint", "record checkpoints")
    _add_bool(group, "server-mode", "server_mode", "wait for tasks over HTTP")
    _add_bool(group, "no-schema", "no_schema", "do not create schemas on the target")
    for name in ("checksum", "analyze"):
        add(_spellings(name), name, f"{name} after import: required, optional or off",
            type=_post_op_level, metavar="LEVEL")  # fmt: skip
    add(_spellings("ca"), "ca", "CA certificate for TLS", metavar="PATH")
    add(_spellings("cert"), "cert", "certificate for TLS", metavar="PATH")
    add(_spellings("key"), "key", "private key for TLS", metavar="PATH")
    _add_bool(group, "redact-info-log", "redact_info_log", "hide user data in the log")
    add(_spellings("f"), "filter", "table filter rule (repeatable)", action="append",
        metavar="RULE")  # fmt: skip


def apply_flags(config: LightningConfig, namespace: argparse.Namespace) -> LightningConfig:
    """``config`` with every flag given in ``namespace`` applied on top."""
    changes: dict[str, dict[str, Any]] = {}
    for dest, (section, field) in _TARGETS.items():
        value = getattr(namespace, dest, None)
        if value is None or value == "":
            continue
        if dest == "filter":
            value = tuple(value)
        changes.setdefault(section, {})[field] = value
    sections = {
        section: attrs.evolve(getattr(config, section), **fields)
        for section, fields in changes.items()
    }
    return attrs.evolve(config, **sections) if sections else config


def config_from_args(namespace: argparse.Namespace) -> LightningConfig:
    """The configuration of ``-config`` (defaults when absent), then the environment
    (:data:`~lightning_core.config.TIDB_PASSWORD_ENV`), then the other flags on top.

    :raises ConfigError: the file cannot be read or is invalid.
    """
    path = getattr(namespace, "config", None)
    config = load_config_file(path) if path else LightningConfig()
    return apply_flags(apply_environment(config), namespace)
