"""A real local Airflow 3.3: `airflow standalone` in its own virtualenv under .orcai/.

Airflow's pins conflict with the app's, so it never shares the app's venv. The venv is
created once and reused; a stamp file records what was installed so re-runs are instant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable

from orcai.localstack.process import Service, start_service, wait_until

AIRFLOW_PACKAGES = ["apache-airflow==3.3.2", "apache-airflow-providers-slack==9.11.1"]
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DAGS = REPO_ROOT / "stack" / "airflow" / "dags"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


def ensure_airflow_venv(venv: Path, echo: Callable[[str], None] = print) -> Path:
    """Create the Airflow venv if missing or outdated; return its bin directory."""
    stamp = venv / ".orcai-installed"
    wanted = "\n".join(AIRFLOW_PACKAGES)
    if stamp.exists() and stamp.read_text() == wanted:
        return venv / "bin"
    echo(f"Installing {' '.join(AIRFLOW_PACKAGES)} into {venv} (first run only, ~1 min)...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
         *AIRFLOW_PACKAGES],
        check=True,
    )
    stamp.write_text(wanted)
    return venv / "bin"


def airflow_env(home: Path, venv_bin: Path, port: int, dags_folder: Path = DEMO_DAGS,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `airflow standalone` (see RECIPES.md for why each line matters)."""
    # The shell's Airflow settings are not inherited, except the demo DAGs' Slack connection.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "ORCAI_")) or k == "AIRFLOW_CONN_SLACK_DEFAULT"}
    env.update({
        "PATH": f"{venv_bin}:{env.get('PATH', '')}",  # standalone spawns `airflow ...`
        "VIRTUAL_ENV": str(venv_bin.parent),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",  # local mode: nothing listens beyond this machine
        # Must match the API port, or every task fails with "Connection refused".
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        # The default 32 forks 32 idle workers on a 2-core box.
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
    })
    env.update(extra or {})
    return env


def healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/v2/monitor/health", timeout=2) as resp:
            body = json.load(resp)
    except (OSError, ValueError):
        return False
    return all(
        body.get(part, {}).get("status") == "healthy"
        for part in ("metadatabase", "scheduler", "dag_processor")
    )


def admin_password(home: Path) -> str:
    return json.loads((home / PASSWORDS_FILE).read_text())["admin"]


def start_airflow(
    home: Path, venv: Path, port: int, dags_folder: Path = DEMO_DAGS,
    extra_env: dict[str, str] | None = None, timeout_s: float = 240,
    on_tick: Callable[[float], None] | None = None, echo: Callable[[str], None] = print,
) -> Service:
    """Start `airflow standalone` and wait until its API, scheduler and parser are healthy."""
    home, venv = home.resolve(), venv.resolve()  # Airflow rejects relative SQLite paths
    venv_bin = ensure_airflow_venv(venv, echo)
    home.mkdir(parents=True, exist_ok=True)
    env = airflow_env(home, venv_bin, port, dags_folder, extra_env)
    service = start_service(
        "airflow", [str(venv_bin / "airflow"), "standalone"], home / "standalone.log", env=env,
    )
    wait_until(lambda: healthy(f"http://localhost:{port}"), service, timeout_s, on_tick)
    return service
