"""Benchmark: the Lineage page draws a 300-node neighbourhood in a real browser.

    python -m tests.benchmarks.lineage_page_browser [--dags 2000] [--samples 5]

Loads the 2,000-DAG / 40,000-task deployment of `lineage_queries` into a real FalkorDB,
starts the Streamlit app on it, picks DAGs whose 2-hop neighbourhood fills the page's
300-node cap, and times in headless Chromium (Debian's) from navigation until the graph's
canvas has painted: first visit (the queries run) and a reload (served from the cache).
Target (issue 3): under 2 s. Prints a table, with the same page drawing only the DAG's own
tasks (0 hops) as a reference: the part of the time that is not the 300-node graph.
Ports shift by TEST_PORT_OFFSET, so runs beside other sessions do not collide.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from orcai.lineage.criticality import refresh_criticality
from orcai.lineage.view import neighbourhood
from orcai.graph.falkor import FalkorGraph
from orcai.graph.load import ensure_schema, load_assets, load_dags, load_tasks
from orcai.localstack.airflow import REPO_ROOT
from orcai.localstack.falkordb import port_open, start_falkordb
from orcai.localstack.process import start_service
from orcai.simulate import synthetic_deployment
from tests.benchmarks.harness import port
from tests.benchmarks.lineage_queries import cross_dag_assets

FALKOR_PORT, APP_PORT = port(6386), port(8611)  # shifted by TEST_PORT_OFFSET
TARGET_S = 2.0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]


def full_neighbourhoods(graph, dag_ids: list[str], wanted: int, hops: int = 2) -> list[str]:
    """DAGs whose neighbourhood at `hops` fills the 300-node cap (the page's worst case)."""
    found = []
    for dag_id in dag_ids:
        if neighbourhood(graph, dag_id=dag_id, depth=hops).hidden:
            found.append(dag_id)
            if len(found) == wanted:
                break
    return found


def time_to_canvas(page, url: str) -> float:
    started = time.perf_counter()
    page.goto(url)
    page.frame_locator("iframe").first.locator("canvas").wait_for(timeout=60_000)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as data:
        server = start_falkordb(Path(data), FALKOR_PORT)
        app = None
        try:
            graph = FalkorGraph("127.0.0.1", FALKOR_PORT, "bench_lineage_page")
            ensure_schema(graph)
            dags, tasks = synthetic_deployment(args.dags, 20)
            load_dags(graph, dags)
            load_tasks(graph, [d.dag_id for d in dags], tasks)
            load_assets(graph, cross_dag_assets(dags, tasks))
            refresh_criticality(graph)
            candidates = [d.dag_id for d in dags]
            random.Random(3).shuffle(candidates)
            sample = full_neighbourhoods(graph, candidates, args.samples)

            env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
            env["ORCAI_GRAPH_URI"] = f"falkor://127.0.0.1:{FALKOR_PORT}/bench_lineage_page"
            app = start_service("app", [sys.executable, "-m", "streamlit", "run", "app.py",
                                        "--server.port", str(APP_PORT), "--server.address", "127.0.0.1",
                                        "--server.headless", "true"],
                                Path(data) / "app.log", env=env, cwd=REPO_ROOT)
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", APP_PORT) and time.monotonic() < deadline:
                time.sleep(0.3)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                time_to_canvas(page, f"http://127.0.0.1:{APP_PORT}/lineage")  # warm the JS bundle
                first, cached, small = [], [], []
                for dag_id in sample:
                    url = f"http://127.0.0.1:{APP_PORT}/lineage?dag={dag_id}&hops=2"
                    first.append(time_to_canvas(page, url))
                    cached.append(time_to_canvas(page, url))
                    # The same page with the DAG's own ~20 tasks: what any visit costs here.
                    time_to_canvas(page, url.replace("hops=2", "hops=0"))
                    small.append(time_to_canvas(page, url.replace("hops=2", "hops=0")))
                browser.close()
        finally:
            if app:
                app.stop()
            server.stop()

    print(f"Lineage page in headless Chromium: {len(dags)} DAGs, {len(tasks)} tasks; "
          f"{len(sample)} DAGs whose 2-hop neighbourhood fills the 300-node cap")
    print(f"{'visit':24} {'median s':>9} {'max s':>7}  target")
    failed = False
    print(f"{'same DAG, 0 hops (cached)':24} {statistics.median(small):9.2f} {max(small):7.2f}  "
          "(reference: the page with ~20 nodes)")
    for name, times in (("first (queries run)", first), ("reload (cached)", cached)):
        ok = statistics.median(times) < TARGET_S
        failed |= not ok
        print(f"{name:24} {statistics.median(times):9.2f} {max(times):7.2f}  <2 s {'met' if ok else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
