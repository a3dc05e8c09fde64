"""Tools the stack tests run: Debian's prometheus and prometheus-alertmanager packages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STACK = Path(__file__).resolve().parents[2] / "stack"


def debian_tool(name: str) -> str:
    """Path of a binary from Debian's prometheus / prometheus-alertmanager packages.

    Missing is a failure, not a skip: `make test` installs them."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: `make test` installs Debian's prometheus and "
                    "prometheus-alertmanager packages (or: apt-get install prometheus prometheus-alertmanager)")
    return path


def run_tool(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a tool; a non-zero exit fails the test with the tool's own output."""
    result = subprocess.run([debian_tool(argv[0]), *argv[1:]], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result
