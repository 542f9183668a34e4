"""``lightning-migrate-loader``: write a tidb-lightning.toml from a Loader configuration.

Usage::

    lightning-migrate-loader [-o FILE] [--force] [LOADER_TOML] [-- LOADER_FLAGS...]

Loader's own flags go after ``--`` exactly as they were given to Loader (``-d /data -t 16``,
``-checkpoint-schema=tidb_loader``, ``--status-addr :8272``); they override the file, as they
did in Loader. ``-c FILE`` among them names the Loader file when no positional file is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lightning_core.errors import LightningError
from lightning_migrate_loader.convert import MigrationResult, migrate
from lightning_migrate_loader.errors import MigrationError
from lightning_migrate_loader.loader_config import (
    config_file_from_flags,
    read_file_text,
    read_loader_input,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    """The command line before ``--`` (after it come Loader's own flags)."""
    parser = argparse.ArgumentParser(
        prog="lightning-migrate-loader",
        description="Translate a TiDB Loader configuration (loader.toml, and Loader's flags "
        "after --) into a tidb-lightning.toml that imports through the TiDB backend.",
        epilog="example: lightning-migrate-loader loader.toml -o tidb-lightning.toml -- "
        "-d /data -h 10.0.0.1 -P 4000 -u root -t 16",
    )
    parser.add_argument(
        "loader_config",
        nargs="?",
        metavar="LOADER_TOML",
        help="Loader's configuration file (or give -c FILE among the Loader flags)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the tidb-lightning.toml here (default: standard output)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite FILE if it already exists")
    parser.add_argument("--quiet", action="store_true", help="do not print the warnings to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0 ok, 2 bad configuration or usage, 1 other)."""
    args = list(sys.argv[1:] if argv is None else argv)
    own, loader_flags = _split_at_double_dash(args)
    parser = build_parser()
    options, stray = parser.parse_known_args(own)
    if stray:
        parser.error(
            f"unrecognized arguments: {' '.join(stray)} (Loader's own flags go after --, "
            f"e.g. lightning-migrate-loader loader.toml -- {' '.join(stray)})"
        )
    try:
        result = _convert(options.loader_config, loader_flags)
        if not options.quiet:
            for note in result.notes:
                print(f"warning: {note}", file=sys.stderr)
        _write(result.text, options.output, force=options.force)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except LightningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if options.output and not options.quiet:
        print(f"wrote {options.output}", file=sys.stderr)
    return EXIT_OK


def _split_at_double_dash(args: list[str]) -> tuple[list[str], list[str]]:
    if "--" in args:
        index = args.index("--")
        return args[:index], args[index + 1 :]
    return args, []


def _convert(file_argument: str | None, loader_flags: Sequence[str]) -> MigrationResult:
    from_flags = config_file_from_flags(loader_flags)
    if file_argument and from_flags and Path(file_argument) != Path(from_flags):
        raise MigrationError(
            f"two Loader files given: {file_argument} and -c {from_flags}; give one"
        )
    name = file_argument or from_flags
    if name is None:
        if not loader_flags:
            raise MigrationError(
                "no Loader configuration given: name the Loader TOML file, or give Loader's "
                "flags after -- (see --help)"
            )
        return migrate(read_loader_input(None, "<Loader flags>", loader_flags))
    text = read_file_text(Path(name))
    return migrate(read_loader_input(text, name, loader_flags))


def _write(text: str, output: str | None, *, force: bool) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(output)
    if path.is_dir():
        raise MigrationError(f"{output} is a directory; name the file to write")
    mode = "w" if force else "x"
    try:
        with path.open(mode, encoding="utf-8") as stream:
            stream.write(text)
    except FileExistsError:
        raise MigrationError(
            f"{output} already exists; pass --force to overwrite it, or choose another -o"
        ) from None
    except OSError as exc:
        raise LightningError(
            f"cannot write {output}: {exc.strerror or exc}; check the directory exists and "
            "is writable"
        ) from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "build_parser", "main"]
