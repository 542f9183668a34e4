"""The ``kv-native`` encoder: TiDB KV pairs from a C row loop, byte for byte as ``kv``."""

from lightning_encoder_native.encoder import NativeTableKVEncoder

__all__ = ["NativeTableKVEncoder"]
