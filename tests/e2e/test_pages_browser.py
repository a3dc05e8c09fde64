"""Every page of the app in Chromium against the running product, and an operator's path
through one DAG: Status → Runs → Lineage. Screenshots of each land in test-artifacts/."""

from __future__ import annotations

import re

from tests.e2e.conftest import grid_text, screenshot, wait_until_drawn

# What each known page must show once drawn; pages added later (Policies) are still visited
# and checked for their title, the sidebar and the absence of an exception.
KEY_TEXT = {"Status": "Success rate (24 h)", "Runs": "Runs due between", "Lineage": "DAG hops",
            "Anomalies": "Detector settings"}


def navigation_links(page, base_url: str) -> dict[str, str]:
    """The pages app.py registers, as its sidebar navigation lists them (title -> URL)."""
    page.goto(base_url + "/")
    wait_until_drawn(page)
    links = page.locator('[data-testid="stSidebarNav"] a')
    # inner_text is "<icon ligature>\n\n<title>": the title is the last line.
    return {links.nth(i).inner_text().strip().splitlines()[-1].strip(): links.nth(i).get_attribute("href")
            for i in range(links.count())}


def assert_healthy(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Graph: connected" in sidebar and "Worker:" in sidebar


def test_every_registered_page_renders(running_product, page):
    pages = navigation_links(page, running_product.url)
    assert {"Status", "Runs", "Lineage", "Anomalies"} <= set(pages), pages
    for title, href in pages.items():
        page.goto(href)
        wait_until_drawn(page)
        assert page.get_by_role("heading", name=title).first.is_visible(), title
        if title in KEY_TEXT:
            page.get_by_text(KEY_TEXT[title]).first.wait_for(timeout=20_000)
        assert_healthy(page)
        screenshot(page, f"page-{title.lower()}")


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the Streamlit selectbox labelled `label` (type to search, Enter)."""
    box = page.locator('[data-testid="stSelectbox"]', has_text=label).first
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option", name=option, exact=True).click()


def test_click_through_a_dag_from_status_to_runs_to_lineage(running_product, page):
    page.goto(running_product.url + "/")
    wait_until_drawn(page)
    choose(page, "Open a DAG", "etl_orders")
    wait_until_drawn(page)
    page.get_by_role("button", name="Runs", exact=True).click()

    page.wait_for_url(re.compile(r"/runs\?dag=etl_orders"), timeout=30_000)
    wait_until_drawn(page)
    assert page.get_by_role("heading", name="Runs").first.is_visible()
    runs = page.locator('[data-testid="stMetric"]', has_text="Runs").first
    assert int(runs.locator('[data-testid="stMetricValue"]').inner_text()) >= 2, "two finished runs at least"
    assert {"extract", "transform", "load"} <= grid_text(page, minimum=5), "the grid lists the DAG's tasks"
    assert_healthy(page)
    screenshot(page, "runs-etl_orders-grid")
    page.get_by_role("tab", name="Gantt").click()
    page.locator('[data-testid="stPlotlyChart"]').last.wait_for(timeout=20_000)
    page.wait_for_timeout(800)
    screenshot(page, "runs-etl_orders-gantt")
    airflow = page.get_by_role("link", name=re.compile("Open in Airflow")).first
    assert airflow.get_attribute("href").endswith("/dags/etl_orders")

    page.get_by_role("button", name="Lineage", exact=True).click()
    page.wait_for_url(re.compile(r"/lineage\?dag=etl_orders"), timeout=30_000)
    wait_until_drawn(page)
    assert page.get_by_role("heading", name="Lineage").first.is_visible()
    assert_healthy(page)
    screenshot(page, "lineage-etl_orders")
    # The first view is HTML with no iframe; a task's box is a link that keeps the view and
    # shows the task's details.
    task = page.locator('.orcai-lineage a[data-node="task:etl_orders.transform"]')
    assert task.is_visible() and page.locator("iframe").count() == 0
    task.click()
    page.wait_for_url(re.compile(r"focus=etl_orders\.transform"), timeout=30_000)
    wait_until_drawn(page)
    page.get_by_role("heading", name="Task etl_orders.transform").first.wait_for(timeout=20_000)
    assert "dag=etl_orders" in page.url  # still the DAG's view, with the task's details below
    assert_healthy(page)
    screenshot(page, "lineage-etl_orders-task")


def test_runs_page_follows_a_dark_system_theme(running_product, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(running_product.url + "/runs?dag=etl_orders")
        wait_until_drawn(page)
        page.get_by_text("Runs due between").first.wait_for(timeout=20_000)
        assert_healthy(page)
        background = page.evaluate(
            "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor")
        red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
        assert red + green + blue < 200, f"dark theme expected, background is {background}"
        screenshot(page, "runs-etl_orders-dark")
    finally:
        context.close()
