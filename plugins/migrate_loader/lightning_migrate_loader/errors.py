"""The one error this distribution raises."""

from __future__ import annotations

from lightning_core.errors import ConfigError


class MigrationError(ConfigError):
    """A Loader configuration (file or flags) cannot be migrated; the message says why and where.

    A configuration error in the eyes of the host: the CLI prints it as one line and exits 2.
    """
