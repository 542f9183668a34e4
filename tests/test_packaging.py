"""Every distribution in the checkout builds its editable wheel without a setuptools warning.

``scripts/setup.sh`` installs them all editable; a warning there is noise a user cannot act on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PROJECTS = [REPO, *sorted(p.parent for p in REPO.glob("plugins/*/pyproject.toml"))]

BUILD_EDITABLE = (
    "import sys, warnings\n"
    "from setuptools import build_meta\n"
    "warnings.simplefilter('error')\n"
    "build_meta.build_editable(sys.argv[1])\n"
)


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: str(p.relative_to(REPO)))
def test_editable_build_is_free_of_warnings(project: Path, tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-c", BUILD_EDITABLE, str(tmp_path)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert list(tmp_path.glob("*.whl"))
