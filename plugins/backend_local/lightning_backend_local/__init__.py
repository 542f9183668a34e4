"""The local backend of tidb-lightning: rows become TiDB KV pairs, sorted in engines on local
disk (``sorted-kv-dir``) and ingested into the embedded store (a RocksDB directory)."""

__version__ = "0.1.0"
