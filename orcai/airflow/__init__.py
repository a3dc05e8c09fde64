"""Airflow: the REST API client and the mapping of its payloads to records."""

from orcai.airflow.client import AirflowClient

__all__ = ["AirflowClient"]
