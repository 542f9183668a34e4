"""gRPC channels to PD and the TiKV stores: one per address, shared by the import's threads,
with TLS from ``[security]`` when it names a CA."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from lightning_core import ConfigError

if TYPE_CHECKING:
    from lightning_core.config_sections import SecurityConfig

#: Larger than any Write batch or region list this client sends or receives.
MAX_MESSAGE_BYTES = 256 << 20

_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 3_000),
)


def host_port(url: str) -> str:
    """``host:port`` of a PD client URL or a store address (``http://`` and ``https://`` and
    any path dropped)."""
    address = url.strip()
    for scheme in ("http://", "https://"):
        if address.lower().startswith(scheme):
            address = address[len(scheme) :]
    return address.split("/", 1)[0]


def stub(stub_class: Callable[[grpc.Channel], Any], channel: grpc.Channel) -> Any:
    """A generated (untyped) service stub over ``channel``."""
    return stub_class(channel)


def _read(path: str, key: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError(f"[security] {key} = {path!r}: cannot read it ({exc})") from exc


class Channels:
    """The open channels of one import, by address."""

    def __init__(self, security: SecurityConfig) -> None:
        self._credentials: grpc.ChannelCredentials | None = None
        if security.ca_path:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(security.ca_path, "ca-path"),
                private_key=_read(security.key_path, "key-path") if security.key_path else None,
                certificate_chain=(
                    _read(security.cert_path, "cert-path") if security.cert_path else None
                ),
            )
        elif security.cert_path or security.key_path:
            raise ConfigError(
                "[security] cert-path / key-path are set but ca-path is empty: TLS to PD and "
                "TiKV needs the CA too; set ca-path"
            )
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    @property
    def secure(self) -> bool:
        """True when the channels use TLS."""
        return self._credentials is not None

    def get(self, address: str) -> grpc.Channel:
        """The channel to ``address`` (a URL or ``host:port``), opened on first use."""
        target = host_port(address)
        with self._lock:
            channel = self._channels.get(target)
            if channel is None:
                if self._credentials is not None:
                    channel = grpc.secure_channel(target, self._credentials, options=_OPTIONS)
                else:
                    channel = grpc.insecure_channel(target, options=_OPTIONS)
                self._channels[target] = channel
            return channel

    def close(self) -> None:
        """Close every channel."""
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()
