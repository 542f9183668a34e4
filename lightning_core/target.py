"""Connections to the target server (TiDB or any MySQL-protocol server) and retry rules."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from lightning_core.errors import TargetError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: MySQL error codes worth retrying: the server or the network hiccuped, not the data.
TRANSIENT_ERRORS: dict[int, str] = {
    1040: "too many connections",
    1205: "lock wait timeout",
    1213: "deadlock",
    2003: "cannot connect",
    2006: "server has gone away",
    2013: "lost connection during query",
    8027: "TiDB: information schema out of date",
    9001: "TiDB: PD server timeout",
    9002: "TiKV server timeout",
    9005: "TiKV region unavailable",
    9007: "TiKV write conflict",
}
#: Codes after which the connection itself is unusable and must be opened again.
CONNECTION_ERRORS = frozenset({2003, 2006, 2013})


@attrs.frozen(kw_only=True)
class TargetAddress:
    """Where and how to connect; built from ``[tidb]``."""

    host: str
    port: int
    user: str
    password: str = attrs.field(repr=False)
    sql_mode: str | None = None
    max_allowed_packet: int = 64 * 1024 * 1024
    tls: tuple[tuple[str, object], ...] = (("ssl_disabled", True),)
    """pymysql TLS keyword arguments, from ``[tidb] tls`` and the security section."""
    session_vars: tuple[tuple[str, object], ...] = (("time_zone", "+00:00"),)
    """Session variables set on every connection. TIMESTAMP values in dumps are UTC (mydumper
    and dumpling write them so), hence the default time zone; ``[tidb.session-vars]`` adds to
    or overrides it."""

    @property
    def label(self) -> str:
        """``user@host:port``, safe to print."""
        return f"{self.user}@{self.host}:{self.port}"


def tls_options(tls: str, security: Any) -> tuple[tuple[str, object], ...]:
    """pymysql's TLS arguments for ``[tidb] tls`` with the certificates of ``security``.

    ``""`` means TLS exactly when a CA is configured; ``false`` never; ``preferred`` when the
    server offers it; ``skip-verify`` encrypted without checking the certificate; ``cluster``
    (or ``true``) encrypted and verified against the configured CA.
    """
    mode = (tls or "").strip().lower()
    ca = getattr(security, "ca_path", "") if security is not None else ""
    certs: list[tuple[str, object]] = []
    if security is not None and security.cert_path:
        certs.append(("ssl_cert", security.cert_path))
    if security is not None and security.key_path:
        certs.append(("ssl_key", security.key_path))
    if mode == "false" or (mode == "" and not ca):
        return (("ssl_disabled", True),)
    if mode == "preferred":
        return ()
    if mode == "skip-verify":
        return (("ssl", {"verify_mode": False, "check_hostname": False}), *certs)
    if mode in ("", "cluster", "true"):
        if not ca:
            raise TargetError(
                f"[tidb] tls = {tls!r} needs a CA: set [security] ca-path (or "
                '[tidb.security] ca-path), or use tls = "skip-verify"'
            )
        return (("ssl_ca", ca), ("ssl_verify_cert", True), *certs)
    raise TargetError(
        f'[tidb] tls = {tls!r} is not one of "", false, preferred, skip-verify, cluster'
    )


def address_from_config(config: Any) -> TargetAddress:
    """The target of a configuration: ``[tidb]``, with ``[security]`` for TLS."""
    tidb = config.tidb
    session_vars: dict[str, object] = {"time_zone": "+00:00"}
    session_vars.update({str(k): v for k, v in (tidb.session_vars or {}).items()})
    return TargetAddress(
        host=tidb.host,
        port=int(tidb.port),
        user=tidb.user,
        password=tidb.password,
        sql_mode=tidb.sql_mode,
        max_allowed_packet=int(tidb.max_allowed_packet),
        session_vars=tuple(session_vars.items()),
        tls=tls_options(tidb.tls, tidb.security or config.security),
    )


def error_code(exc: BaseException) -> int | None:
    """The MySQL error code of a pymysql error, if it carries one."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def is_transient(exc: BaseException) -> bool:
    """True when retrying the same statement may succeed."""
    import pymysql

    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    return error_code(exc) in TRANSIENT_ERRORS


def connect(
    address: TargetAddress, *, autocommit: bool = True, retries: int = 3, local_infile: bool = False
) -> Any:
    """Open a pymysql connection in binary-safe utf8mb4 with the configured sql_mode.

    :param local_infile: allow ``LOAD DATA LOCAL INFILE`` (the server then reads a file the
        client names; only for a target the configuration trusts anyway).
    """
    import pymysql

    tls: dict[str, Any] = dict(address.tls)

    def attempt() -> Any:
        conn = pymysql.connect(
            host=address.host,
            port=address.port,
            user=address.user,
            password=address.password,
            charset="utf8mb4",
            autocommit=autocommit,
            max_allowed_packet=address.max_allowed_packet,
            connect_timeout=10,
            local_infile=local_infile,
            **tls,
        )
        with conn.cursor() as cur:
            if address.sql_mode is not None:
                cur.execute("SET SESSION sql_mode = %s", (address.sql_mode,))
            for name, value in address.session_vars:
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise TargetError(f"[tidb.session-vars] has an invalid name {name!r}")
                cur.execute(f"SET SESSION {name} = %s", (value,))
        return conn

    return with_retries(attempt, what=f"connect to {address.label}", retries=retries)


def with_retries(
    action: Callable[[], T],
    *,
    what: str,
    retries: int = 3,
    on_retry: Callable[[BaseException], None] | None = None,
    base_delay: float = 0.2,
) -> T:
    """Run ``action``; retry transient server errors with exponential backoff and jitter.

    After the last attempt the error becomes a ``TargetError`` that says what failed.
    """
    import pymysql

    attempt = 0
    while True:
        try:
            return action()
        except pymysql.err.MySQLError as exc:
            attempt += 1
            if not is_transient(exc) or attempt > retries:
                code = error_code(exc)
                reason = TRANSIENT_ERRORS.get(code or 0, "")
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise TargetError(
                    f"{what} failed{tries}: {exc}"
                    + (f" ({reason})" if reason else "")
                    + "; check the target server, then run again to resume"
                ) from exc
            delay = base_delay * (2 ** (attempt - 1)) * (1 + random.random())
            log.warning("%s: %s; retry %d/%d in %.1fs", what, exc, attempt, retries, delay)
            if on_retry is not None:
                on_retry(exc)
            time.sleep(delay)


def server_version(conn: Any) -> str:
    """``SELECT version()`` of the target."""
    with conn.cursor() as cur:
        cur.execute("SELECT version()")
        return str(cur.fetchone()[0])


def statement_limit(conn: Any, address: TargetAddress) -> int:
    """The longest statement to send: the smaller of the server's ``max_allowed_packet`` and
    ``[tidb] max-allowed-packet`` (``address.max_allowed_packet``)."""
    with conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.max_allowed_packet")
        return min(int(cur.fetchone()[0]), address.max_allowed_packet)


def drop_if_unused(conn: Any, schema: str, table: str) -> None:
    """Drop ``schema.table`` when it has no rows left, then ``schema`` when it has no tables.

    Progress tables are created on the target only for the time of a task; after a successful
    import nothing of them should stay behind (other tasks' rows keep them alive).
    """
    import pymysql

    from lightning_core.sqltext import quote_identifier

    qualified = f"{quote_identifier(schema)}.{quote_identifier(table)}"
    with conn.cursor() as cur:
        try:
            cur.execute(f"SELECT 1 FROM {qualified} LIMIT 1")
        except pymysql.err.ProgrammingError:
            return  # already gone
        if cur.fetchone() is not None:
            return
        cur.execute(f"DROP TABLE IF EXISTS {qualified}")
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (schema,)
        )
        if cur.fetchone()[0] == 0:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_identifier(schema)}")
