"""Secrets `make up` generates for local mode, kept in files only their owner can read."""

from __future__ import annotations

import secrets
from pathlib import Path


def ensure_secret_file(path: Path) -> bool:
    """Create `path` (mode 600) holding a random secret unless it exists; True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secrets.token_urlsafe(24) + "\n")
    return True
