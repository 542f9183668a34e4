"""The tree stays ruff-clean and mypy --strict clean (the project's own settings)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_lint_and_format() -> None:
    lint = run(str(BIN / "ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = run(str(BIN / "ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_strict() -> None:
    checked = run(
        str(BIN / "mypy"),
        "lightning_core",
        "plugins/backend_tidb/lightning_backend_tidb",
        "plugins/migrate_loader/lightning_migrate_loader",
        "plugins/encoder_native/lightning_encoder_native",
        "plugins/backend_local/lightning_backend_local",
        "plugins/backend_importer/lightning_backend_importer",
    )
    assert checked.returncode == 0, checked.stdout


PRIVATE_CORE_MODULES = re.compile(
    r"^\s*(from|import)\s+lightning_core\.(pipeline|checkpoints\.state|sqltext|target)\b", re.M
)


def test_plugins_import_only_the_public_core_api() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{text[: match.start()].count(chr(10)) + 1}"
        for path in sorted((REPO / "plugins").rglob("*.py"))
        for text in [path.read_text()]
        for match in PRIVATE_CORE_MODULES.finditer(text)
    ]
    assert not offenders, f"plugins import private core modules: {offenders}"
