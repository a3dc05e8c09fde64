"""The fault matrix's fixtures, and its table printed at the end of the session."""

from __future__ import annotations

import pytest

from tests.reliability.fault_proxy import FaultProxy

RESULTS: list[tuple[str, str, str]] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "fault(name, checked): a row of the fault matrix table")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    marker = item.get_closest_marker("fault")
    if marker and (report.when == "call" or (report.when == "setup" and not report.passed)):
        RESULTS.append((*marker.args, report.outcome.upper()))
    return report


def pytest_terminal_summary(terminalreporter):
    if not RESULTS:
        return
    width = max(len(fault) for fault, _, _ in RESULTS)
    terminalreporter.section("fault matrix")
    terminalreporter.write_line(f"{'fault':{width}}  {'result':7}  checked")
    for fault, checked, result in RESULTS:
        terminalreporter.write_line(f"{fault:{width}}  {result:7}  {checked}")


@pytest.fixture(scope="session")
def airflow_proxy(airflow_with_runs):
    proxy = FaultProxy(airflow_with_runs.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(airflow_proxy):
    airflow_proxy.clear()
    yield airflow_proxy
    airflow_proxy.clear()
