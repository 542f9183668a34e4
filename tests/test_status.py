"""The status server of ``[lightning] status-addr``: TiDB Lightning's metrics and JSON progress."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lightning_core.config import config_from_toml
from lightning_core.errors import ConfigError
from lightning_core.pipeline.progress import ProgressReporter, report_ranges
from lightning_core.pipeline.status import StatusServer, parse_address, status_address


def test_addresses_in_lightnings_spelling() -> None:
    assert parse_address(":8289") == ("0.0.0.0", 8289)
    assert parse_address("127.0.0.1:1") == ("127.0.0.1", 1)
    with pytest.raises(ConfigError, match="status-addr"):
        parse_address("8289x")


def test_pprof_port_is_the_legacy_spelling_of_status_addr() -> None:
    def address(lightning: str) -> str:
        return status_address(config_from_toml(f"[lightning]\n{lightning}").lightning)

    assert address("pprof-port = 8289\n") == ":8289"  # an old configuration's status server
    assert address('pprof-port = 8289\nstatus-addr = "127.0.0.1:9000"\n') == "127.0.0.1:9000"
    assert address("") == ""


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


def _scrape(server: StatusServer, accept: str = "") -> tuple[str, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Accept": accept} if accept else {}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.headers["Content-Type"], answer.read().decode()


def test_metrics_have_tidb_lightnings_names_and_a_registry_per_server() -> None:
    progress = ProgressReporter(
        total_bytes=1000, done_bytes=100, tables=3, stream=None, log_interval=60
    )
    servers = [StatusServer("127.0.0.1:0", progress) for _ in range(2)]
    try:
        progress.advance(rows=7, nbytes=250)
        progress.table_finished()
        progress.chunks["estimated"] = 3
        for moves in ((None, "pending"), ("pending", "running"), ("running", "finished")):
            progress.chunk_moved(*moves)
        progress.chunk_moved(None, "pending")
        progress.engine_reached("data", "closed")
        progress.engine_reached("index", "imported")
        kind, text = _scrape(servers[1])
        assert kind.startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("lightning_tables", (("result", "success"), ("state", "pending")))] == 3
        assert samples[("lightning_tables", (("result", "success"), ("state", "completed")))] == 1
        assert samples[("lightning_bytes", (("state", "total_restore"),))] == 1000
        assert samples[("lightning_bytes", (("state", "restored"),))] == 350  # with earlier runs'
        assert samples[("lightning_row_read_bytes_sum", ())] == 250  # this run's rows and bytes
        assert samples[("lightning_row_read_bytes_count", ())] == 7
        assert samples[("lightning_rows_done", ())] == 7  # this implementation's own names stay
        chunk = "lightning_chunks"
        assert samples[(chunk, (("state", "estimated"),))] == 3
        assert samples[(chunk, (("state", "pending"),))] == 1
        assert samples[(chunk, (("state", "running"),))] == 0
        assert samples[(chunk, (("state", "finished"),))] == 1
        assert samples[("lightning_engines", (("state", "closed"), ("type", "data")))] == 1
        assert samples[("lightning_engines", (("state", "imported"), ("type", "index")))] == 1
        kind, text = _scrape(servers[0], accept="application/openmetrics-text; version=1.0.0")
        assert kind.startswith("application/openmetrics-text") and text.endswith("# EOF\n")
        assert "lightning_tables" not in generate_latest(REGISTRY).decode()
    finally:
        for server in servers:
            server.close()


def test_import_seconds_failed_tables_and_ranges_are_served() -> None:
    progress = ProgressReporter(
        total_bytes=10, done_bytes=0, tables=2, stream=None, log_interval=60, engines=2
    )
    server = StatusServer("127.0.0.1:0", progress)
    try:
        progress._observe_import(0.1)
        progress._observe_import(3.0)
        progress.table_failed("written")
        report_ranges("cut", 4)
        report_ranges("imported", 3)
        _, text = _scrape(server)
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        seconds = "lightning_import_seconds"
        assert samples[(f"{seconds}_bucket", (("le", "0.125"),))] == 1
        assert samples[(f"{seconds}_bucket", (("le", "2.0"),))] == 1
        assert samples[(f"{seconds}_bucket", (("le", "4.0"),))] == 2
        assert samples[(f"{seconds}_bucket", (("le", "+Inf"),))] == 2
        assert samples[(f"{seconds}_count", ())] == 2 and samples[(f"{seconds}_sum", ())] == 3.1
        failed = ("lightning_tables", (("result", "failure"), ("state", "index_imported")))
        assert samples[failed] == 1  # Lightning's name of the step that failed: the import
        assert samples[("lightning_ranges", (("state", "cut"),))] == 4
        assert samples[("lightning_ranges", (("state", "imported"),))] == 3
    finally:
        server.close()
        progress.finish()
