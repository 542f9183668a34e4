"""``[plugin.importer]``: the importer backend's own settings."""

from __future__ import annotations

import attrs
from lightning_backend_local.options import DEFAULT_STORE_DIR


@attrs.frozen(kw_only=True)
class ImporterOptions:
    """``[plugin.importer]`` keys."""

    store_dir: str = DEFAULT_STORE_DIR
    """The embedded store tikv-importer imports into (its ``[import] store-dir``, the same
    directory seen from here): the catalog of databases and tables is kept there."""
    retry_seconds: float = 30.0
    """How long a call to a tikv-importer that does not answer (down, restarting) is retried
    before the import stops."""
