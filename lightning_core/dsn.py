"""Go-style MySQL DSNs (``user:password@tcp(host:port)/``), as ``[checkpoint] dsn`` holds them.

The password may contain any character, ``@`` and ``:`` included: as in Go's MySQL driver, the
credentials end at the *last* ``@`` before the address. Nothing here ever puts a password into
a message; :func:`redact_dsn` is what logs and errors show.
"""

from __future__ import annotations

import re

import attrs

from lightning_core.errors import ConfigError

REDACTED = "******"

_ADDRESS = re.compile(r"tcp\((?P<host>[^:()@]+):(?P<port>\d+)\)/?(?P<rest>[^@]*)")


@attrs.frozen(kw_only=True)
class MySQLDsn:
    """The parts of a DSN a connection needs."""

    user: str
    password: str = attrs.field(repr=False)
    host: str
    port: int


def parse_dsn(dsn: str, *, key: str = "[checkpoint] dsn") -> MySQLDsn:
    """Split ``user[:password]@tcp(host:port)/``; the error never shows the password.

    :raises ConfigError: naming ``key`` and the expected form.
    """
    credentials, at, address = dsn.rpartition("@")
    match = _ADDRESS.fullmatch(address)
    if not at or match is None:
        raise ConfigError(
            f"{key} {redact_dsn(dsn)!r} is not of the form user:password@tcp(host:port)/; "
            "fix it or leave it empty to use the [tidb] server"
        )
    user, _, password = credentials.partition(":")
    return MySQLDsn(user=user, password=password, host=match["host"], port=int(match["port"]))


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by ``******``; safe to log.

    A value without ``@`` or ``:`` is a file path and is kept; one with ``:`` but no ``@`` is
    a mistyped DSN that may hold a password, and is hidden whole. When the user cannot be told
    from the rest, everything before the last ``@`` is hidden.
    """
    credentials, at, address = dsn.rpartition("@")
    if not at:
        return REDACTED if ":" in dsn else dsn
    user, colon, _ = credentials.partition(":")
    if not colon or "/" in user or "(" in user:
        return f"{REDACTED}@{address}"
    return f"{user}:{REDACTED}@{address}"
