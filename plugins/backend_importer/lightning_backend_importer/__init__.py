"""The importer backend of tidb-lightning and the ``tikv-importer`` server it talks to.

Workers encode rows into TiDB KV pairs and stream them over ImportKV (kvproto's
``import_kvpb``) to a tikv-importer, which keeps them in engines on its disk, sorts them when an
engine is closed and ingests them at import. The server (:mod:`.server`) is built on the local
backend's engine and store code.
"""

__version__ = "0.1.0"
