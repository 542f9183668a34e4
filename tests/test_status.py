"""The status server of ``[lightning] status-addr``: Prometheus text and JSON progress."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from lightning_core.errors import ConfigError
from lightning_core.pipeline.progress import ProgressReporter
from lightning_core.pipeline.status import StatusServer, parse_address


def test_addresses_in_lightnings_spelling() -> None:
    assert parse_address(":8289") == ("0.0.0.0", 8289)
    assert parse_address("127.0.0.1:1") == ("127.0.0.1", 1)
    with pytest.raises(ConfigError, match="status-addr"):
        parse_address("8289x")


def test_metrics_and_progress_follow_the_counters() -> None:
    progress = ProgressReporter(
        total_bytes=1000, done_bytes=0, tables=3, stream=None, log_interval=60
    )
    server = StatusServer("127.0.0.1:0", progress)
    base = f"http://127.0.0.1:{server.port}"
    try:
        progress.advance(rows=7, nbytes=250)
        progress.table_finished()
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
        assert "lightning_rows_done 7" in metrics
        assert "lightning_bytes_done 250" in metrics
        assert "lightning_tables_finished 1" in metrics
        assert "# TYPE lightning_bytes_total gauge" in metrics
        state = json.loads(urllib.request.urlopen(f"{base}/progress", timeout=5).read())
        assert state["tables_total"] == 3 and state["line"].startswith(" 25.0%")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/nothing", timeout=5)
    finally:
        server.close()


def test_a_taken_port_is_a_clear_error() -> None:
    progress = ProgressReporter(total_bytes=1, done_bytes=0, tables=1, stream=None, log_interval=60)
    first = StatusServer("127.0.0.1:0", progress)
    try:
        with pytest.raises(ConfigError, match="cannot be served"):
            StatusServer(f"127.0.0.1:{first.port}", progress)
    finally:
        first.close()
