"""Names the tests of lightning-migrate-loader share (a unique module name, unlike conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lightning_migrate_loader import MigrationResult

from lightning_core.config import LightningConfig

FIXTURES = Path(__file__).parent / "fixtures"

Migrate = Callable[..., tuple[MigrationResult, LightningConfig]]
"""``migrate_and_load(text, flags=())``: see the fixture in conftest.py."""
