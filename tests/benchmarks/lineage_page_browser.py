"""Benchmark: the Lineage page draws a 300-node neighbourhood in a real browser.

    python -m tests.benchmarks.lineage_page_browser [--dags 2000] [--samples 5] [--profile] [--baseline REV]

Loads the 2,000-DAG / 40,000-task deployment of `lineage_queries` into a real FalkorDB,
starts the Streamlit app on it, picks DAGs whose 2-hop neighbourhood fills the page's
300-node cap, and times in headless Chromium (Debian's) from navigation until the graph is
drawn (the page's HTML drawing: its edges image decoded and its node boxes laid out; for a
page drawing with streamlit-agraph, vis-network's canvas in the component's iframe): first
visit (the queries run) and a reload (served from the cache).
Target (issue 14): under 2 s. In the same run, as references for the part of the time that
is not the 300-node graph: the same page drawing only the DAG's own tasks (0 hops, ~20
nodes), and a bare page of the same app (sidebar and navigation, then one `st.write`),
which is Streamlit's own floor on this machine.

Each visit's timeline (ms after navigation: the app's HTML and JavaScript, the first and
last websocket message of the script run, the title drawn, the component's iframe and its
JavaScript, the canvas) is printed as medians, with the CPU seconds the app server and the
browser's renderer used per visit (what a loaded machine inflates least); `--profile` adds
where the renderer's main thread spent one visit of each kind (a CDP CPU profile, self time
by script); `--baseline REV` also serves and times the Lineage page of a git revision in the
same run, against the same caches (the way to compare a change on a shared machine).
Ports shift by TEST_PORT_OFFSET, so runs beside other sessions do not collide.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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
BARE_TEXT = "A bare page of the app."

# The app as it is, plus one page that only writes a line (and, with --baseline, the Lineage
# page as it was at a git revision): st.navigation is wrapped once per server process (a
# module import), so the real app.py runs unchanged around it.
EXTRA_PAGES_MODULE = '''
import streamlit as st

def bare():
    st.write({text!r})

_extra = [st.Page(bare, title="Bare", url_path="bare")]
if {baseline!r}:
    _extra.append(st.Page("lineage_before.py", title="Lineage before", url_path="lineage_before"))
_navigation = st.navigation
st.navigation = lambda pages, **kw: _navigation([*pages, *_extra], **kw)
'''
WRAPPED_APP = f'''
import runpy
import bench_extra_pages  # noqa: F401 (adds the pages)
runpy.run_path({str(REPO_ROOT / "app.py")!r}, run_name="__main__")
'''

# The graph has been drawn. This page's first view (ui.lineage_drawing): the image of the edges
# decoded and the node boxes laid out with a size. A page drawing with streamlit-agraph (a
# --baseline before the drawing): vis-network's canvas is in the component's iframe (it paints
# as it creates it), checked from the page since the iframe is of the same origin.
GRAPH_DRAWN = """
const graphDrawn = () => {
  const drawing = document.querySelector('[data-testid="stHtml"] .orcai-lineage');
  const edges = drawing?.querySelector('img');
  if (edges?.complete && edges.naturalWidth > 0 && drawing.querySelector('.n')?.getBoundingClientRect().width > 0)
    return true;
  return !!document.querySelector('iframe')?.contentDocument?.querySelector('canvas');
};
"""
GRAPH_DRAWN_JS = f"() => {{ {GRAPH_DRAWN} return graphDrawn(); }}"
# Records in the page when each milestone first appears (epoch ms, so iframes' own timings
# compare), checked at every animation frame for the first minute.
MILESTONES_JS = """
(() => {
  const marks = window.__marks = {};
  const mark = (name) => { if (!(name in marks)) marks[name] = performance.timeOrigin + performance.now(); };
  if (window.top !== window) return;
  GRAPH_DRAWN
  const check = () => {
    if (document.querySelector('[data-testid="stSidebarContent"] h3')) mark('sidebar drawn');
    if (document.querySelector('[data-testid="stMain"] h1, [data-testid="stMain"] [data-testid="stMarkdownContainer"]')) mark('page content drawn');
    if (document.querySelector('iframe')) mark('iframe element');
    if (!('graph drawn' in marks) && graphDrawn()) mark('graph drawn');
    if (performance.now() < 60000) requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();
""".replace("GRAPH_DRAWN", GRAPH_DRAWN)
ENTRIES_JS = """
() => ({origin: performance.timeOrigin, marks: window.__marks || {},
        nav: performance.getEntriesByType('navigation').map(e => e.toJSON()),
        resources: performance.getEntriesByType('resource').map(e => e.toJSON())})
"""


def full_neighbourhoods(graph, dag_ids: list[str], wanted: int, hops: int = 2) -> list[str]:
    """DAGs whose neighbourhood at `hops` fills the 300-node cap (the page's worst case)."""
    found = []
    for dag_id in dag_ids:
        if neighbourhood(graph, dag_id=dag_id, depth=hops).hidden:
            found.append(dag_id)
            if len(found) == wanted:
                break
    return found


@contextmanager
def lineage_app(dags_count: int, samples: int, baseline: str | None = None
                ) -> Iterator[tuple[str, list[str], int, int, int]]:
    """The app on a FalkorDB holding the synthetic deployment; yields its base URL, DAGs
    whose 2-hop neighbourhood fills the node cap, the numbers of DAGs and tasks, the server's pid.
    `baseline`: a git revision whose Lineage page is served too, at /lineage_before."""
    with tempfile.TemporaryDirectory() as data:
        server = start_falkordb(Path(data), FALKOR_PORT)
        app = None
        try:
            graph = FalkorGraph("127.0.0.1", FALKOR_PORT, "bench_lineage_page")
            ensure_schema(graph)
            dags, tasks = synthetic_deployment(dags_count, 20)
            load_dags(graph, dags)
            load_tasks(graph, [d.dag_id for d in dags], tasks)
            load_assets(graph, cross_dag_assets(dags, tasks))
            refresh_criticality(graph)
            candidates = [d.dag_id for d in dags]
            random.Random(3).shuffle(candidates)
            sample = full_neighbourhoods(graph, candidates, samples)

            entry = Path(data) / "app"
            entry.mkdir()
            (entry / "app_pages").symlink_to(REPO_ROOT / "app_pages")  # st.Page paths are relative to the entry
            (entry / "bench_extra_pages.py").write_text(EXTRA_PAGES_MODULE.format(text=BARE_TEXT,
                                                                                 baseline=bool(baseline)))
            if baseline:
                (entry / "lineage_before.py").write_bytes(subprocess.run(
                    ["git", "show", f"{baseline}:app_pages/lineage.py"], cwd=REPO_ROOT,
                    capture_output=True, check=True).stdout)
            (entry / "app.py").write_text(WRAPPED_APP)
            env = {k: v for k, v in os.environ.items() if not k.startswith("ORCAI_")}
            env["ORCAI_GRAPH_URI"] = f"falkor://127.0.0.1:{FALKOR_PORT}/bench_lineage_page"
            env["PYTHONPATH"] = str(REPO_ROOT)
            app = start_service("app", [sys.executable, "-m", "streamlit", "run", str(entry / "app.py"),
                                        "--server.port", str(APP_PORT), "--server.address", "127.0.0.1",
                                        "--server.headless", "true"],
                                Path(data) / "app.log", env=env, cwd=REPO_ROOT)
            deadline = time.monotonic() + 60
            while not port_open("127.0.0.1", APP_PORT) and time.monotonic() < deadline:
                time.sleep(0.3)
            yield f"http://127.0.0.1:{APP_PORT}", sample, len(dags), len(tasks), app.process.pid
        finally:
            if app:
                app.stop()
            server.stop()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def renderer_cpu(cdp) -> float:
    """CPU seconds the page's renderer process has used (all its threads)."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "ProcessTime")


class Visit:
    """One timed navigation: the seconds to the awaited element; the CPU seconds the app server
    and the browser's renderer used meanwhile (what a busy machine inflates least); and a
    timeline of milestones."""

    server_pid = 0  # set once the app runs
    cdp = None  # a CDP session of the page, with Performance enabled

    def __init__(self, page, url: str, bare: bool) -> None:
        frames: list[float] = []

        def on_websocket(ws) -> None:
            ws.on("framereceived", lambda _: frames.append(time.time() * 1000))

        page.on("websocket", on_websocket)
        cpu_before = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        renderer_before = renderer_cpu(self.cdp) if self.cdp else 0.0
        started = time.perf_counter()
        page.goto(url)
        if bare:
            page.get_by_text(BARE_TEXT).wait_for(timeout=60_000)
        else:
            page.wait_for_function(GRAPH_DRAWN_JS, timeout=60_000)
        self.seconds = time.perf_counter() - started
        page.wait_for_timeout(300)  # the script run's last messages
        self.server_cpu = cpu_seconds(self.server_pid) - cpu_before if self.server_pid else 0.0
        self.renderer_cpu = renderer_cpu(self.cdp) - renderer_before if self.cdp else 0.0
        page.remove_listener("websocket", on_websocket)
        self.timeline = timeline(page, frames)


def timeline(page, ws_frames: list[float]) -> dict[str, float]:
    """Milestones in ms after navigation start, from the page, its iframes and the websocket."""
    main = page.evaluate(ENTRIES_JS)
    origin = main["origin"]
    at: dict[str, float] = {f"{k}": v - origin for k, v in main["marks"].items()}
    nav = main["nav"][0]
    at["HTML received"] = nav["responseEnd"]
    at["DOMContentLoaded"] = nav["domContentLoadedEventEnd"]
    for entry in main["resources"]:
        name = entry["name"]
        if "/static/js/index" in name:
            at["app JS received"] = entry["responseEnd"]
        elif "/component/" in name and entry["initiatorType"] == "iframe":
            at["iframe requested"] = entry["startTime"]
    if ws_frames:
        at["first ws message"] = ws_frames[0] - origin
        at["last ws message"] = ws_frames[-1] - origin
    for frame in page.frames[1:]:
        try:
            inner = frame.evaluate(ENTRIES_JS)
        except Exception:  # a frame that went away
            continue
        shift = inner["origin"] - origin
        for k, v in inner["marks"].items():
            at[k] = v - origin
        if inner["nav"]:
            at["iframe HTML received"] = inner["nav"][0]["responseEnd"] + shift
            at["iframe DOMContentLoaded"] = inner["nav"][0]["domContentLoadedEventEnd"] + shift
        js = [e for e in inner["resources"] if e["name"].endswith(".js")]
        if js:
            at["iframe JS received"] = max(e["responseEnd"] for e in js) + shift
            at["iframe JS bytes"] = sum(e["transferSize"] for e in js)
    return at


def cpu_profile(page, url: str, bare: bool) -> dict[str, float]:
    """Self time (ms) of the renderer's main thread during one visit, by script."""
    session = page.context.new_cdp_session(page)
    session.send("Profiler.enable")
    session.send("Profiler.setSamplingInterval", {"interval": 200})
    session.send("Profiler.start")
    Visit(page, url, bare)
    profile = session.send("Profiler.stop")["profile"]
    session.detach()
    by_id = {node["id"]: node for node in profile["nodes"]}
    spent: dict[str, float] = defaultdict(float)
    for sample, delta in zip(profile["samples"], profile["timeDeltas"]):
        frame = by_id[sample]["callFrame"]
        spent[script_kind(frame["url"], frame["functionName"])] += delta / 1000
    return dict(spent)


def script_kind(url: str, function: str) -> str:
    if not url:
        return f"({function or 'native'})" if function.startswith("(") else "browser built-ins"
    if "/component/" in url:
        return "component iframe JS"
    if "/static/js/" in url:
        return "Streamlit app JS"
    return "other JS"


def median_timeline(visits: list[Visit]) -> dict[str, float]:
    names = {k for v in visits for k in v.timeline}
    return {k: statistics.median(v.timeline[k] for v in visits if k in v.timeline) for k in names}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="add a CPU profile of one visit of each kind")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the Lineage page of this git revision, in the same run (cached visits)")
    args = parser.parse_args(argv)

    kinds = ["bare page", "0 hops (cached)", "first (queries run)", "reload (cached)"]
    if args.baseline:
        kinds += [f"{args.baseline[:10]}: 0 hops", f"{args.baseline[:10]}: reload"]
    visits: dict[str, list[Visit]] = {k: [] for k in kinds}
    profiles: dict[str, dict[str, float]] = {}
    with lineage_app(args.dags, args.samples, args.baseline) as (base, sample, dags_count, tasks_count, pid):
        Visit.server_pid = pid
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.add_init_script(MILESTONES_JS)
            Visit.cdp = page.context.new_cdp_session(page)
            Visit.cdp.send("Performance.enable")
            Visit(page, f"{base}/lineage", bare=False)  # warm the browser's and the server's first use
            if args.baseline:
                Visit(page, f"{base}/lineage_before", bare=False)
            for dag_id in sample:
                url = f"{base}/lineage?dag={dag_id}&hops=2"
                visits["bare page"].append(Visit(page, f"{base}/bare", bare=True))
                visits["first (queries run)"].append(Visit(page, url, bare=False))
                visits["reload (cached)"].append(Visit(page, url, bare=False))
                Visit(page, url.replace("hops=2", "hops=0"), bare=False)
                visits["0 hops (cached)"].append(Visit(page, url.replace("hops=2", "hops=0"), bare=False))
                if args.baseline:  # the same neighbourhoods, from the same caches
                    before = url.replace("/lineage?", "/lineage_before?")
                    visits[kinds[-1]].append(Visit(page, before, bare=False))
                    visits[kinds[-2]].append(Visit(page, before.replace("hops=2", "hops=0"), bare=False))
            if args.profile:
                url = f"{base}/lineage?dag={sample[0]}&hops="
                profiles = {"bare page": cpu_profile(page, f"{base}/bare", True),
                            "0 hops (cached)": cpu_profile(page, url + "0", False),
                            "reload (cached)": cpu_profile(page, url + "2", False)}
                if args.baseline:
                    before = url.replace("/lineage?", "/lineage_before?")
                    profiles[kinds[-1]] = cpu_profile(page, before + "2", False)
            browser.close()

    print(f"Lineage page in headless Chromium: {dags_count} DAGs, {tasks_count} tasks; "
          f"{len(sample)} DAGs whose 2-hop neighbourhood fills the 300-node cap; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"{'visit':24} {'median s':>9} {'max s':>7} {'server CPU s':>13} {'renderer CPU s':>15}  "
          "target (CPU: medians)")
    failed = False
    for name in kinds:
        times = [v.seconds for v in visits[name]]
        if name in ("first (queries run)", "reload (cached)"):
            ok = statistics.median(times) < TARGET_S
            failed |= not ok
            verdict = f"<2 s {'met' if ok else 'MISSED'}"
        else:
            verdict = ("(reference: one st.write)" if name == "bare page" else
                       "(reference: ~20 nodes)" if name.endswith("0 hops") or name.startswith("0 hops") else
                       "(the page before)")
        cpu = [statistics.median(getattr(v, k) for v in visits[name])
               for k in ("server_cpu", "renderer_cpu")]
        print(f"{name:24} {statistics.median(times):9.2f} {max(times):7.2f} {cpu[0]:13.2f} {cpu[1]:15.2f}  {verdict}")

    print("\nTimeline, median ms after navigation start")
    lines = {k: median_timeline(visits[k]) for k in kinds}
    names = sorted({n for t in lines.values() for n in t if n != "iframe JS bytes"},
                   key=lambda n: statistics.median(t[n] for t in lines.values() if n in t))
    print(f"{'milestone':26}" + "".join(f"{k[:20]:>21}" for k in kinds))
    for name in names:
        print(f"{name:26}" + "".join(f"{lines[k][name]:21.0f}" if name in lines[k] else f"{'-':>21}"
                                     for k in kinds))
    for kind in kinds:
        if "iframe JS bytes" in lines[kind]:
            print(f"iframe JS transferred ({kind}): {lines[kind]['iframe JS bytes'] / 1000:.0f} kB")
    if profiles:
        print("\nRenderer main thread during one visit, self time in ms (CDP CPU profile)")
        rows = sorted({r for p in profiles.values() for r in p}, key=lambda r: -max(p.get(r, 0) for p in profiles.values()))
        print(f"{'where':26}" + "".join(f"{k[:20]:>21}" for k in profiles))
        for row in rows:
            print(f"{row:26}" + "".join(f"{p.get(row, 0):21.0f}" for p in profiles.values()))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
