"""`make up`: run ORC AI locally on its embedded defaults, Ctrl-C stops everything.

Starts, in order: the embedded FalkorDB (data under .orcai/falkordb), a real Airflow 3.3
standalone with the demo DAGs (unless ORCAI_AIRFLOW_URL points at an existing Airflow),
the worker, and the Streamlit app. Each runs in its own process group; on Ctrl-C or
SIGTERM, or when one of them dies, every group is stopped, so no orphan keeps a port.
The settings it hands its children (generated password files, the local Airflow) are
recorded in .orcai/local_stack.json while it runs, so that `make simulate`, `make worker`
and `make app` in the same checkout find them too.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from orcai.auth import admin_configured
from orcai.config import load_settings
from orcai.errors import ConfigError
from orcai.localstack.airflow import PASSWORDS_FILE, REPO_ROOT, start_airflow
from orcai.localstack.falkordb import port_open, start_falkordb
from orcai.localstack.process import Service, start_service
from orcai.localstack.secret_files import RECORD_FILE, ensure_secret_file, forget_local_stack, record_local_stack

# The local Airflow's port; ORCAI_AIRFLOW_PORT moves it (e.g. beside another `make up`).
LOCAL_AIRFLOW_PORT = int(os.environ.get("ORCAI_AIRFLOW_PORT", "8089"))
APP_PORT = int(os.environ.get("ORCAI_APP_PORT", "8501"))
# Local mode listens on loopback only; set ORCAI_APP_HOST=0.0.0.0 to share the app on a network.
APP_HOST = os.environ.get("ORCAI_APP_HOST", "127.0.0.1")


def say(message: str) -> None:
    print(f"[orcai] {message}", flush=True)


def progress(label: str):
    """A ticking counter on a terminal; a line every 10 s in a log file."""
    interactive = sys.stdout.isatty()
    last_line = [-10.0]

    def tick(elapsed: float) -> None:
        if interactive:
            print(f"\r[orcai] {label}... {elapsed:4.0f} s", end="", flush=True)
        elif elapsed - last_line[0] >= 10:
            last_line[0] = elapsed
            say(f"{label}... {elapsed:.0f} s")
    return tick


def main() -> int:
    try:
        settings = _settings_without_stale_record()
    except ConfigError as exc:
        say(str(exc))
        return 2
    home = settings.home.resolve()
    services: list[Service] = []
    child_env = dict(os.environ)
    recorded = []

    def stop_all(*_, code: int = 0):
        say("stopping " + ", ".join(s.name for s in reversed(services)) + "...")
        if recorded:
            forget_local_stack(home)
        for service in reversed(services):
            service.stop()
        say("stopped.")
        sys.exit(code)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    try:
        services.append(_start_graph(settings, home, child_env))
        if "ORCAI_AIRFLOW_URL" not in os.environ:
            services.append(_start_local_airflow(home))
            child_env["ORCAI_AIRFLOW_URL"] = f"http://localhost:{LOCAL_AIRFLOW_PORT}"
            child_env["ORCAI_AIRFLOW_USERNAME"] = "admin"
            child_env["ORCAI_AIRFLOW_PASSWORD_FILE"] = str(home / "airflow" / PASSWORDS_FILE)
        else:
            say(f"using the existing Airflow at {settings.airflow_url}")
        if not admin_configured(settings):
            # Like `airflow standalone`: a generated password, kept in a file only its owner reads.
            password_file = home / "admin_password"
            if ensure_secret_file(password_file):
                say(f"generated an admin password for the app's write actions in {password_file}")
            child_env["ORCAI_ADMIN_PASSWORD_FILE"] = str(password_file)
        recorded.append(record_local_stack(home, urlparse(settings.graph_uri).port or 6380,
                                           {name: value for name, value in child_env.items() if name in HANDED}))
        services.append(start_service(
            "worker", [sys.executable, "-m", "workers.worker"], home / "logs" / "worker.log",
            env=child_env, cwd=REPO_ROOT))
        services.append(start_service(
            "app", [sys.executable, "-m", "orcai.serve_app", "--server.port", str(APP_PORT),
                    "--server.address", APP_HOST],
            home / "logs" / "app.log", env=child_env, cwd=REPO_ROOT))
        _wait_for_app()
        _print_summary(home, child_env)
        _supervise(services)  # returns only when a service died
    except Exception as exc:  # startup failed: say why, stop what did start
        print()
        say(f"could not start: {exc}")
        if recorded:
            forget_local_stack(home)
        for service in reversed(services):
            service.stop()
        return 1
    stop_all(code=1)
    return 1


def _settings_without_stale_record():
    """The settings; a record left by a `make up` that is no longer running is dropped first."""
    settings = load_settings()
    port = urlparse(settings.graph_uri).port or 6380
    if (settings.home / RECORD_FILE).exists() and not port_open("127.0.0.1", port):
        forget_local_stack(settings.home)
        settings = load_settings()
    return settings


# What make up hands its children and records for the other commands: paths and URLs, no secret.
HANDED = ("ORCAI_GRAPH_PASSWORD_FILE", "ORCAI_AIRFLOW_URL", "ORCAI_AIRFLOW_USERNAME",
          "ORCAI_AIRFLOW_PASSWORD_FILE", "ORCAI_ADMIN_PASSWORD_FILE")


def _start_graph(settings, home: Path, child_env: dict) -> Service:
    """The embedded FalkorDB on loopback, with a password: set one, or one is generated."""
    parsed = urlparse(settings.graph_uri)
    if not parsed.scheme.startswith("falkor") or parsed.hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"make up starts the embedded FalkorDB only; ORCAI_GRAPH_URI is {parsed.scheme}://"
                           f"{parsed.hostname}. Run the worker and app directly against it instead.")
    if settings.graph_password is None:
        password_file = home / "falkordb_password"
        ensure_secret_file(password_file)
        child_env["ORCAI_GRAPH_PASSWORD_FILE"] = str(password_file)
        password = password_file.read_text().strip()
    else:
        password = settings.graph_password.get_secret_value()
    say(f"starting FalkorDB on 127.0.0.1:{parsed.port} (data in {home / 'falkordb'})")
    return start_falkordb(home / "falkordb", parsed.port or 6380, password=password)


def _start_local_airflow(home: Path) -> Service:
    if port_open("127.0.0.1", LOCAL_AIRFLOW_PORT):
        raise RuntimeError(f"port {LOCAL_AIRFLOW_PORT} is busy: stop the Airflow running there, "
                           "or set ORCAI_AIRFLOW_URL to use it")
    say("starting Airflow 3.3 standalone with the demo DAGs (first start ~1 min)")
    service = start_airflow(home / "airflow", home / "airflow-venv", LOCAL_AIRFLOW_PORT,
                            on_tick=progress("waiting for Airflow to be healthy"), echo=say)
    _end_progress_line()
    return service


def _wait_for_app(timeout_s: float = 60) -> None:
    started = time.monotonic()
    tick = progress("waiting for the app")
    while not port_open("127.0.0.1", APP_PORT):
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"the app did not listen on port {APP_PORT}; see .orcai/logs/app.log")
        tick(time.monotonic() - started)
        time.sleep(0.5)
    _end_progress_line()


def _end_progress_line() -> None:
    if sys.stdout.isatty():
        print()


def _print_summary(home: Path, env: dict) -> None:
    say("ORC AI is up.")
    say(f"  App:      http://localhost:{APP_PORT}")
    say(f"  Airflow:  {env.get('ORCAI_AIRFLOW_URL')}")
    if "ORCAI_AIRFLOW_PASSWORD_FILE" in env:
        say(f"  Airflow login: user 'admin', password in {env['ORCAI_AIRFLOW_PASSWORD_FILE']}")
    if "ORCAI_ADMIN_PASSWORD_FILE" in env:
        say(f"  App admin login (Policies page): password in {env['ORCAI_ADMIN_PASSWORD_FILE']}")
    say(f"  Logs:     {home / 'logs'}")
    say("  Weeks of synthetic history for the demo DAGs: `make simulate` (after the first sync)")
    say("Press Ctrl-C to stop everything.")


def _supervise(services: list[Service]) -> None:
    while True:
        for service in services:
            if not service.running():
                say(f"{service.name} exited (code {service.process.returncode}); last log lines:")
                print(service.log_tail(), flush=True)
                return
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
