"""``[plugin.local]``: the local backend's own settings."""

from __future__ import annotations

import attrs

DEFAULT_STORE_DIR = "lightning-store"
DEFAULT_CONFLICT_DIR = "lightning-conflicts"


@attrs.frozen(kw_only=True)
class LocalOptions:
    """``[plugin.local]`` keys."""

    store_dir: str = DEFAULT_STORE_DIR
    """The embedded store's directory (relative paths are from the working directory); used
    when ``[tidb] pd-addr`` is empty. With ``pd-addr`` and this key set, the schemas go into
    this store's catalog instead of through ``[tidb]`` SQL (a cluster without TiDB, such as
    ``lightning-tikv-double --store-dir``)."""
    conflict_dir: str = DEFAULT_CONFLICT_DIR
    """Where ``[conflict] strategy = "replace" | "ignore"`` lists the rows it dropped, one
    ``<db>.<table>.csv`` per table (relative paths are from the working directory); kept after
    the import."""
