"""Test-suite settings: plugin load failures are fatal unless a test says otherwise."""

import os

from lightning_core.plugins import STRICT_ENV

os.environ.setdefault(STRICT_ENV, "1")
