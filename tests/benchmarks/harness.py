"""What every benchmark needs: a throwaway FalkorDB (or Airflow), a stopwatch, a table,
and a MET/MISS line per target that decides the exit code.

Ports are fixed per benchmark and shifted by TEST_PORT_OFFSET, like the tests' ports.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import redis

from orcai.graph.falkor import FalkorGraph
from orcai.graph.load import ensure_schema
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import start_falkordb
from orcai.localstack.process import start_service, wait_until

PORT_OFFSET = int(os.environ.get("TEST_PORT_OFFSET", "0"))


def port(base: int) -> int:
    return base + PORT_OFFSET


@contextmanager
def falkordb(base_port: int) -> Iterator[int]:
    """A FalkorDB with its data in a temporary folder, stopped afterwards; yields its port."""
    with tempfile.TemporaryDirectory() as data:
        server = start_falkordb(Path(data), port(base_port))
        try:
            yield port(base_port)
        finally:
            server.stop()


@dataclass(frozen=True)
class ServerCpu:
    """CPU seconds a FalkorDB server has used so far: its own threads (queries) and its
    forked children (the snapshots Redis writes while the graph changes), and how many
    snapshots it forked. Differences of two readings say what a piece of work cost the
    server, whatever else the machine was doing."""
    own: float
    snapshots: float
    forks: int

    def __sub__(self, other: "ServerCpu") -> "ServerCpu":
        return ServerCpu(self.own - other.own, self.snapshots - other.snapshots, self.forks - other.forks)


def server_cpu(falkor_port: int) -> ServerCpu:
    with redis.Redis("127.0.0.1", falkor_port) as connection:
        cpu, stats = connection.info("cpu"), connection.info("stats")
    return ServerCpu(float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
                     float(cpu["used_cpu_user_children"]) + float(cpu["used_cpu_sys_children"]),
                     int(stats["total_forks"]))


def peak_rss_mb() -> float:
    """This process's peak resident memory. Read from /proc, not `getrusage`: Linux carries a
    parent's peak over `fork` and `exec` into the child's ru_maxrss, so a spawned worker
    would report its parent's peak whenever the parent's was higher."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def empty_graph(falkor_port: int, name: str) -> FalkorGraph:
    graph = FalkorGraph("127.0.0.1", falkor_port, name)
    ensure_schema(graph)
    return graph


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self) -> "Stopwatch":
        self.started, self.seconds = time.perf_counter(), 0.0
        return self

    def __exit__(self, *_exc) -> None:
        self.seconds = time.perf_counter() - self.started


def brier_skill(risks: list[float], outcomes: list[bool]) -> float:
    """How much better the forecast probabilities `risks` score than always saying the base
    rate (1 − Brier / Brier of the base rate): a proper score of a breach risk, rewarding
    both calibration and sharpness, over every forecast rather than the alerts alone."""
    p, y = np.asarray(risks, dtype=float), np.asarray(outcomes, dtype=float)
    reference = np.mean((y.mean() - y) ** 2)
    return float(1 - np.mean((p - y) ** 2) / reference) if reference > 0 else 0.0


def print_table(rows: list[dict]) -> None:
    """Rows of equal keys as an aligned text table (numbers right-aligned)."""
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[c], (int, float)) for row in rows) for c in columns]
    line = lambda values: "  ".join(v.rjust(w) if n else v.ljust(w)  # noqa: E731
                                     for v, w, n in zip(values, widths, numeric)).rstrip()
    print(line(columns))
    for row in cells:
        print(line(row))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass
class Target:
    text: str
    met: bool
    value: str


def report_targets(targets: list[Target]) -> int:
    """Print one MET/MISS line per target; the exit code is 1 when any is missed."""
    for target in targets:
        print(f"{'MET ' if target.met else 'MISS'}  {target.text}: {target.value}")
    return 0 if all(target.met for target in targets) else 1


@contextmanager
def airflow(base_port: int, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """A real `airflow standalone` (demo DAGs) in a temporary home; yields its URL and home.

    Uses the project's cached Airflow virtualenv (.orcai/airflow-venv)."""
    from orcai.localstack.airflow import start_airflow
    with tempfile.TemporaryDirectory() as home:
        service = start_airflow(Path(home), AIRFLOW_VENV, port(base_port),
                                extra_env=extra_env, timeout_s=420, echo=lambda msg: print(msg, flush=True))
        try:
            yield f"http://localhost:{port(base_port)}", Path(home)
        finally:
            service.stop()


# `--postgres` only: Airflow's PostgreSQL drivers (its sync engine's and its API's async one), a
# dependency of the benchmarks' Airflow side. Installed into a folder of its own on Airflow's
# PYTHONPATH, not into the Airflow venv, which the app's stack and every other test share.
POSTGRES_DRIVERS = ["psycopg2-binary==2.9.13", "asyncpg==0.32.0"]
POSTGRES_DRIVER_DIR = REPO_ROOT / ".orcai" / "airflow-postgres-driver"
AIRFLOW_VENV = REPO_ROOT / ".orcai" / "airflow-venv"


def postgres_driver() -> Path:
    """The folder holding POSTGRES_DRIVERS, installed by the Airflow venv's pip on first use."""
    stamp, wanted = POSTGRES_DRIVER_DIR / ".orcai-installed", "\n".join(POSTGRES_DRIVERS)
    if not (stamp.exists() and stamp.read_text() == wanted):
        subprocess.run([str(AIRFLOW_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        "--upgrade", "--target", str(POSTGRES_DRIVER_DIR), *POSTGRES_DRIVERS], check=True)
        stamp.write_text(wanted)
    return POSTGRES_DRIVER_DIR


@contextmanager
def postgres(base_port: int) -> Iterator[str]:
    """A throwaway PostgreSQL server (Debian's binaries) with an empty database `airflow`;
    yields its SQLAlchemy URL (psycopg2). Benchmarks only: no test depends on it. Run as
    root, the server runs as the `postgres` user, as it must."""
    # Debian keeps the server's programs out of PATH, under its major version
    initdb = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    if initdb is None:
        raise RuntimeError("PostgreSQL's server binaries are missing: apt-get install -y postgresql")
    bin_dir = Path(initdb).resolve().parent
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        if as_owner:
            shutil.chown(folder, "postgres")
        subprocess.run([*as_owner, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "airflow"],
                       check=True, capture_output=True)
        server = start_service("postgres", [*as_owner, str(bin_dir / "postgres"), "-D", str(data),
                                            "-p", str(port(base_port)), "-k", folder,
                                            "-c", "listen_addresses=127.0.0.1", "-c", "synchronous_commit=off"],
                               Path(folder) / "postgres.log")
        psql = ["psql", "-h", "127.0.0.1", "-p", str(port(base_port)), "-U", "airflow", "-d", "postgres"]
        try:
            wait_until(lambda: subprocess.run([*psql, "-c", "SELECT 1"], capture_output=True).returncode == 0,
                       server, 60)
            subprocess.run([*psql, "-c", "CREATE DATABASE airflow"], check=True, capture_output=True)
            yield f"postgresql+psycopg2://airflow@127.0.0.1:{port(base_port)}/airflow"
        finally:
            server.stop()
