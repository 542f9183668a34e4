"""The status server behind ``[lightning] status-addr``: progress as JSON and Prometheus metrics.

``GET /metrics`` answers with TiDB Lightning's metric names (so its Grafana dashboards work),
in the format the scraper asks for (Prometheus text or OpenMetrics); ``GET /progress`` as JSON.
The server runs in a daemon thread of the main process and only reads the progress counters.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from lightning_core.errors import ConfigError
from lightning_core.pipeline.progress import IMPORT_SECONDS_BUCKETS, ProgressReporter

if TYPE_CHECKING:
    from lightning_core.config_sections import LightningAppConfig

log = logging.getLogger(__name__)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``:port`` (all interfaces), as TiDB Lightning writes it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"[lightning] status-addr {address!r} is not host:port or :port; fix it or leave "
            "it empty for no status server"
        )
    return host.strip("[]") or "0.0.0.0", int(port)


def status_address(app: LightningAppConfig) -> str:
    """``[lightning] status-addr``, or ``:<pprof-port>`` when only its legacy alias is set (as
    TiDB Lightning reads old configurations); empty for no status server."""
    if app.status_addr or not app.pprof_port:
        return app.status_addr
    return f":{app.pprof_port}"


def snapshot(progress: ProgressReporter) -> dict[str, Any]:
    """The counters a status request reports."""
    return {
        "tables_total": progress.tables,
        "tables_finished": progress.tables_done,
        "bytes_total": progress.total_bytes,
        "bytes_done": progress.done_bytes,
        "rows_done": progress.rows,
        "phase": progress.phase,
        "engines_total": progress.engines_total,
        "engines_imported": progress.engines_imported,
        "line": progress.line(),
    }


#: This implementation's own names, kept beside TiDB Lightning's.
_OWN_METRICS = (
    ("lightning_tables_total", "Tables planned.", "tables_total"),
    ("lightning_tables_finished", "Tables imported and verified.", "tables_finished"),
    ("lightning_bytes_total", "Bytes of the data files planned.", "bytes_total"),
    ("lightning_bytes_done", "Bytes of the data files imported.", "bytes_done"),
    ("lightning_rows_done", "Rows imported by this run.", "rows_done"),
)


class ProgressCollector(Collector):
    """TiDB Lightning's metrics, read from the progress counters at each scrape.

    Lightning's counters (``lightning_tables``, ``lightning_bytes``) are served as gauges:
    prometheus-client names every counter ``<name>_total``, and dashboards select by name.
    """

    def __init__(self, progress: ProgressReporter) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        """The metrics of one scrape."""
        progress = self._progress
        tables = GaugeMetricFamily(
            "lightning_tables", "count number of tables processed", labels=["state", "result"]
        )
        tables.add_metric(["pending", "success"], progress.tables)
        tables.add_metric(["completed", "success"], progress.tables_done)
        for step, count in sorted(progress.failed_tables.items()):
            tables.add_metric([step, "failure"], count)  # the step the table had reached
        yield tables
        nbytes = GaugeMetricFamily("lightning_bytes", "count of total bytes", labels=["state"])
        nbytes.add_metric(["total_restore"], progress.total_bytes)
        nbytes.add_metric(["restored"], progress.done_bytes)
        yield nbytes
        # Lightning observes each row's source bytes; only the sum and count are kept here
        yield HistogramMetricFamily(
            "lightning_row_read_bytes",
            "number of bytes being read out from data source",
            buckets=[("+Inf", progress.rows)],
            sum_value=progress.run_bytes,
        )
        chunks = GaugeMetricFamily(
            "lightning_chunks", "count number of chunks processed", labels=["state"]
        )
        for state in ("estimated", "pending", "running", "finished", "failed"):
            chunks.add_metric([state], progress.chunks[state])
        yield chunks
        engines = GaugeMetricFamily(
            "lightning_engines", "count number of engines processed", labels=["type", "state"]
        )
        for kind in ("data", "index"):
            for state in ("closed", "imported"):
                engines.add_metric([kind, state], progress.engines[(kind, state)])
        yield engines
        cumulative = list(itertools.accumulate(progress.import_seconds))
        yield HistogramMetricFamily(
            "lightning_import_seconds",
            "time needed to import an engine",
            buckets=[
                *zip(map(floatToGoString, IMPORT_SECONDS_BUCKETS), cumulative, strict=True),
                ("+Inf", progress.import_seconds_count),
            ],
            sum_value=progress.import_seconds_sum,
        )
        ranges = GaugeMetricFamily(
            "lightning_ranges", "count number of ranges of engines processed", labels=["state"]
        )
        for state in ("cut", "imported"):
            ranges.add_metric([state], progress.ranges[state])
        yield ranges
        values = snapshot(progress)
        for name, help_text, key in _OWN_METRICS:
            yield GaugeMetricFamily(name, help_text, value=values[key])


class StatusServer:
    """Serves the progress of one run until ``close()``."""

    def __init__(self, address: str, progress: ProgressReporter) -> None:
        host, port = parse_address(address)
        registry = CollectorRegistry(auto_describe=False)  # this server's alone
        registry.register(ProgressCollector(progress))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    encode, kind = choose_encoder(self.headers.get("Accept", ""))
                    data = encode(registry)
                elif self.path == "/progress":
                    data, kind = json.dumps(snapshot(progress)).encode(), "application/json"
                else:
                    self.send_error(404, "try /metrics or /progress")
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("status: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise ConfigError(
                f"[lightning] status-addr {address!r} cannot be served: {exc}; choose a free "
                "port or leave it empty"
            ) from exc
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        log.info("status server at http://%s:%d/metrics", host, self.port)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
