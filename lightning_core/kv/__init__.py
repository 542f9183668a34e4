"""TiDB's key and row codec and Lightning's KV checksum, shared by the KV backends.

Everything here writes bytes exactly as TiDB does (see ``docs/kv-codec.md``):
:mod:`.memcomparable` (datums), :mod:`.keys` (record/index keys and index values),
:mod:`.rowcodec` (row format v2), :mod:`.mydecimal`, :mod:`.jsonbinary`, :mod:`.collation`,
:mod:`.checksum`, and :mod:`.encoder` / :mod:`.decoder` for whole rows. Import the modules
themselves: the package imports nothing, so that the checksum alone stays cheap.
"""
