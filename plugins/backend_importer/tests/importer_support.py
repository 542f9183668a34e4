"""tikv-importer started as a separate process on a loopback port, for the tests; and the
tidb-lightning.toml of an import through it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lightning_core.testing.tasks import task_config

SERVER_COMMAND = [
    sys.executable,
    "-c",
    "import sys; from lightning_backend_importer.server.main import main; sys.exit(main())",
]


class ImporterProcess:
    """One ``tikv-importer`` process; :meth:`start` again after :meth:`kill` restarts it on
    the same port, import-dir and store-dir."""

    def __init__(self, root: Path, *, extra_config: str = "") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.import_dir = root / "import"
        self.store_dir = root / "store"
        self.config = root / "tikv-importer.toml"
        self.config.write_text(
            f'log-level = "info"\n[import]\nimport-dir = "{self.import_dir}"\n'
            f'store-dir = "{self.store_dir}"\n{extra_config}'
        )
        self.port = 0
        self.status_port = 0
        self._process: subprocess.Popen[str] | None = None
        self.log = root / "tikv-importer.log"

    @property
    def address(self) -> str:
        """``host:port`` it listens on."""
        return f"127.0.0.1:{self.port}"

    def start(self, *, status: bool = False) -> ImporterProcess:
        """Start it and wait until it listens."""
        args = ["-C", str(self.config), "-A", f"127.0.0.1:{self.port}"]
        args += ["--log-file", str(self.log)]
        if status:
            args += ["--status-server", f"127.0.0.1:{self.status_port}"]
        self._process = subprocess.Popen(
            [*SERVER_COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if "listening on" not in line:
            self._process.wait(timeout=10)
            raise AssertionError(f"tikv-importer did not start: {line}{self._process.stderr}")
        self.port = int(line.rsplit(":", 1)[1])
        if status:
            self.status_port = int(self._process.stdout.readline().split()[-1])
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)
        self._process = None

    def stop(self) -> int:
        """SIGTERM; the exit code."""
        assert self._process is not None
        self._process.send_signal(signal.SIGTERM)
        code = self._process.wait(timeout=30)
        self._process = None
        return code

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    """Poll ``condition()`` until it is true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def importer_config(
    tmp_path: Path, dump: Path, server: ImporterProcess, *, extra: str = "", **kw: Any
) -> Path:
    """A tidb-lightning.toml importing ``dump`` through ``server`` into its store."""
    text = task_config(dump, backend="importer", checkpoint=tmp_path / "cp.json", **kw)
    text = text.replace("[tikv-importer]\n", f'[tikv-importer]\naddr = "{server.address}"\n{extra}')
    text += f'[plugin.importer]\nstore-dir = "{server.store_dir}"\nretry-seconds = 3\n'
    path = tmp_path / "tidb-lightning.toml"
    path.write_text(text)
    return path
