"""Start the Streamlit app: `python -m orcai.serve_app [streamlit options]`.

With OpenID Connect configured (ORCAI_OIDC_ISSUER) it first writes Streamlit's `[auth]`
secrets from ORC AI's settings into `$ORCAI_HOME/streamlit/secrets.toml` (mode 600, never
in the repository) and points Streamlit at it, beside the usual `.streamlit/secrets.toml`.
Without it the app starts as before (local mode). `make up`, `make app`, the compose stack
and the browser tests all start the app this way.
"""

from __future__ import annotations

import os
import sys

from orcai.config import load_settings
from orcai.errors import ConfigError
from orcai.oidc import write_streamlit_secrets

DEFAULT_SECRETS = ".streamlit/secrets.toml"


def streamlit_command(extra: list[str]) -> list[str]:
    """The command that runs the app, with the generated secrets file when OIDC is on."""
    settings = load_settings()
    command = [sys.executable, "-m", "streamlit", "run", "app.py"]
    if settings.oidc_enabled:
        path = write_streamlit_secrets(settings)
        command += ["--secrets.files", DEFAULT_SECRETS, "--secrets.files", str(path)]
    return command + extra


def main(argv: list[str] | None = None) -> int:
    try:
        command = streamlit_command(list(sys.argv[1:] if argv is None else argv))
    except ConfigError as exc:
        print(f"[orcai] {exc}", file=sys.stderr)
        return 2
    os.execv(command[0], command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
