"""The built-in ``kv`` encoder against the core's ``KVEncoderContract``."""

from lightning_core.testing.contracts import KVEncoderContract


class TestKVEncoder(KVEncoderContract):
    encoder_name = "kv"
