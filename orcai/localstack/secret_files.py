"""Secrets `make up` generates for local mode, and the record that lets other commands find them.

`make up` generates the embedded FalkorDB's password and the app's admin password into
files only their owner can read, and starts a local Airflow whose password Airflow writes
to a file. It hands those files to its own children; so that `make simulate`, `make
worker` and `make app`, run beside it in the same checkout, can log in too, it also
records which settings it handed out (setting names and file paths, never a secret) in
`<home>/local_stack.json`. `Settings` takes them from there when its graph is that
FalkorDB and they are not set otherwise (see `orcai.config`).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

RECORD_FILE = "local_stack.json"


def ensure_secret_file(path: Path) -> bool:
    """Create `path` (mode 600) holding a random secret unless it exists; True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secrets.token_urlsafe(24) + "\n")
    return True


def record_local_stack(home: Path, graph_port: int, handed: dict[str, str]) -> Path:
    """Write which settings (`ORCAI_*` name → value) `make up` handed to its children."""
    if any(("_PASSWORD" in name and not name.endswith("_FILE")) or name.endswith("_TOKEN") for name in handed):
        raise ValueError("the local stack record holds file paths, never a secret")
    path = home / RECORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"graph_port": graph_port, "settings": handed}, indent=2) + "\n")
    return path


def forget_local_stack(home: Path) -> None:
    (home / RECORD_FILE).unlink(missing_ok=True)


def local_stack_settings(home: Path, graph_port: int) -> dict[str, str]:
    """The settings `make up` handed out, if the FalkorDB it started from `home` is on `graph_port`.

    Keys are `Settings` field names (`graph_password_file`, ...); empty when there is no
    record, it is unreadable, or it belongs to a FalkorDB on another port (the tests' own).
    """
    try:
        record = json.loads((home / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("graph_port") != graph_port:
        return {}
    handed = record.get("settings") or {}
    return {name.removeprefix("ORCAI_").lower(): str(value) for name, value in handed.items()
            if name.startswith("ORCAI_")}
