"""The README's path, walked literally in a fresh clone: `make up`, then `make simulate` in a
second shell, then the app's pages show the history.

The clone is of the checkout's HEAD (commit first: uncommitted changes are not walked).
Ports are moved (ORCAI_GRAPH_URI, ORCAI_APP_PORT, ORCAI_AIRFLOW_PORT, ORCAI_METRICS_PORT, set
alike in both shells, as the README says) so a developer's own `make up` keeps running.
To keep the test to minutes, the clone's `.venv` sees this interpreter's packages and its
Airflow virtualenv is the tests' cached one when there is one; TEST_README_WALK_COLD=1
walks it cold, with both installs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from orcai.config import load_settings
from orcai.graph import connect
from orcai.localstack.airflow import REPO_ROOT
from orcai.graph.worker_store import worker_heartbeats
from orcai.localstack.falkordb import port_open
from tests.conftest import DEMO_DAGS, PORT_OFFSET
from tests.e2e.conftest import screenshot, wait_until_drawn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

OFFSET = 300 + PORT_OFFSET  # apart from make up's defaults and from the session's services
GRAPH_PORT, APP_PORT, AIRFLOW_PORT = 6380 + OFFSET, 8501 + OFFSET, 8089 + OFFSET
UP_TIMEOUT_S = 1200  # cold: both installs and Airflow's first start on a busy 2-core machine


def shell_env() -> dict[str, str]:
    """A newcomer's shell: nothing of ORC AI's set but the moved ports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCAI_", "VIRTUAL_ENV", "AIRFLOW"))}
    env.update({"ORCAI_GRAPH_URI": f"falkor://127.0.0.1:{GRAPH_PORT}/orcai", "ORCAI_APP_PORT": str(APP_PORT),
                "ORCAI_AIRFLOW_PORT": str(AIRFLOW_PORT), "ORCAI_METRICS_PORT": str(9464 + OFFSET)})
    return env


def fresh_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "orcai"
    subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
    if os.environ.get("TEST_README_WALK_COLD") != "1":
        reuse_installs(clone)
    return clone


def reuse_installs(clone: Path) -> None:
    """The clone's .venv reads this interpreter's packages (a .pth file), marked installed
    after requirements.txt so make skips pip; Airflow's venv is the tests' cached one."""
    venv = clone / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    [site_packages] = venv.glob("lib/python3*/site-packages")
    (site_packages / "orcai_walk_reuse.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (venv / ".installed-app").touch()
    cached_airflow = REPO_ROOT / ".orcai" / "airflow-venv"
    if (cached_airflow / ".orcai-installed").exists():
        (clone / ".orcai").mkdir()
        (clone / ".orcai" / "airflow-venv").symlink_to(cached_airflow)


def make(target: str, clone: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(["make", target], cwd=clone, env=shell_env(), stdin=subprocess.DEVNULL,
                            start_new_session=True, **kwargs)


def stop_like_ctrl_c(process: subprocess.Popen, timeout_s: float = 90) -> None:
    """SIGINT to make's process group, as Ctrl-C would; SIGKILL what is left after the wait."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until_up(up: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UP_TIMEOUT_S
    while "ORC AI is up." not in log.read_text(errors="replace"):
        assert up.poll() is None, f"make up exited with {up.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"make up not up after {UP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
        time.sleep(2)


def wait_for_first_sync(clone: Path, timeout_s: float = 300) -> None:
    """The README: `make simulate` after the first sync. The test's own settings find make
    up's generated graph password the way `make simulate` does."""
    settings = load_settings(home=clone / ".orcai", graph_uri=shell_env()["ORCAI_GRAPH_URI"])
    assert settings.graph_password is not None, "make up's record did not give the graph password"
    graph = connect(settings)
    try:
        deadline = time.monotonic() + timeout_s
        while not synced_demo_dags(graph):
            assert time.monotonic() < deadline, "the worker did not sync the demo DAGs"
            time.sleep(2)
    finally:
        graph.close()


def synced_demo_dags(graph) -> bool:
    """A sync finished after Airflow had parsed the demo DAGs (the first may find none yet)."""
    try:
        beats = worker_heartbeats(graph)
    except Exception:  # the worker creates the graph on its first cycle
        return False
    return bool(beats) and beats[0].get("last_ok_at") is not None and (beats[0].get("dags") or 0) >= len(DEMO_DAGS)


def runs_shown(page) -> int:
    """The Runs page's "Runs" metric: runs of the DAG in its 30-day window."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"^Runs\s*\d")).first
    metric.wait_for(timeout=60_000)
    return int(re.search(r"\d+", metric.inner_text().split("Runs", 1)[1]).group())


def test_the_readme_path_works_in_a_fresh_clone(tmp_path, browser):
    for port in (GRAPH_PORT, APP_PORT, AIRFLOW_PORT):
        assert not port_open("127.0.0.1", port), f"port {port} is busy: another walk running?"
    clone = fresh_clone(tmp_path)
    up_log = tmp_path / "make-up.log"
    with open(up_log, "wb") as out:
        up = make("up", clone, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_up(up, up_log)
        wait_for_first_sync(clone)
        simulate = make("simulate", clone, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = simulate.communicate(timeout=600)[0].decode(errors="replace")
        assert simulate.returncode == 0, f"make simulate failed:\n{output[-3000:]}"

        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{APP_PORT}/runs?dag=etl_orders")
        wait_until_drawn(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert runs_shown(page) >= 20, "the Runs page does not show the simulated 30 days"
        screenshot(page, "readme-walk-runs")
        page.goto(f"http://127.0.0.1:{APP_PORT}/")
        wait_until_drawn(page)
        assert "Graph: connected" in page.locator('[data-testid="stSidebar"]').inner_text()
        context.close()
    finally:
        stop_like_ctrl_c(up)
    log = up_log.read_text(errors="replace")
    assert "stopped." in log, log[-3000:]
    assert not (clone / ".orcai" / "local_stack.json").exists()
    for port in (GRAPH_PORT, APP_PORT, AIRFLOW_PORT):
        assert not port_open("127.0.0.1", port), f"port {port} still open after Ctrl-C"
