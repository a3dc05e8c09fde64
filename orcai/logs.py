"""Logging for ORC AI's programs (the worker, the simulator): set up once by the program,
never by a library module at import time."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", fmt: str = FORMAT) -> None:
    logging.basicConfig(level=level.upper(), format=fmt)
    logging.getLogger().setLevel(level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """One line per problem: the libraries' own lines about it are dropped."""
    # The Airflow API client retries a broken connection once; urllib3 logs that retry as a
    # WARNING of its own, a second line for one outage. orcai.airflow reports the outcome.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
