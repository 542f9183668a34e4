"""The ``kv-native`` encoder against the core's ``KVEncoderContract`` (as ``kv`` in tests/kv)."""

from lightning_core.testing.contracts import KVEncoderContract


class TestNativeEncoder(KVEncoderContract):
    encoder_name = "kv-native"
