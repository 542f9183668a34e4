"""Entry point of tidb-lightning-migrate-loader in the ``lightning.plugins`` group.

This distribution adds a command (``lightning-migrate-loader``), not an import component, so the
module implements no hooks. It is registered so that ``tidb-lightning plugins`` lists the
distribution and its version next to the backends.
"""
