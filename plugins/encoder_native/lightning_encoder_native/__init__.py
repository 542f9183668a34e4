"""The ``kv-native`` encoder: TiDB KV pairs from a C row loop, byte for byte as ``kv``.

The encoder is ``lightning_encoder_native.encoder.NativeTableKVEncoder``; it is imported only
when an import uses it (loading the plugin stays cheap)."""
