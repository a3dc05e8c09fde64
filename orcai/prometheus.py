"""The one module that talks to Prometheus: its HTTP API (`/api/v1/query`, `/api/v1/query_range`).

Built on urllib3 (already ORC AI's HTTP library through the Airflow client); no network in
`__init__`; every request has `ORCAI_PROMETHEUS_TIMEOUT_S` as its timeout. A refused
connection or a timeout is PrometheusUnreachable; a bad query or a non-2xx answer is
PrometheusError, with Prometheus's own message.
"""

from __future__ import annotations

import math

import urllib3

from orcai.config import Settings
from orcai.errors import PrometheusError, PrometheusUnreachable

Sample = tuple[dict, float]  # (labels, value)


class PrometheusClient:
    def __init__(self, settings: Settings):
        if not settings.prometheus_url:
            raise PrometheusError("no Prometheus configured: set ORCAI_PROMETHEUS_URL")
        self._base_url = settings.prometheus_url
        self._timeout = settings.prometheus_timeout_s
        self._pool: urllib3.PoolManager | None = None

    def query(self, promql: str, at_s: float | None = None) -> list[Sample]:
        """An instant query: each series' labels and value (NaN values left out)."""
        fields = {"query": promql} | ({"time": f"{at_s:.3f}"} if at_s is not None else {})
        data = self._get("/api/v1/query", fields)
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s.get("metric", {}), float(s["value"][1])) for s in data.get("result", [])
                if not math.isnan(float(s["value"][1]))]

    def query_range(self, promql: str, start_s: float, end_s: float, step_s: float) -> list[tuple[dict, list[tuple[float, float]]]]:
        """A range query: each series' labels and its (time s, value) points."""
        data = self._get("/api/v1/query_range", {"query": promql, "start": f"{start_s:.3f}",
                                                 "end": f"{end_s:.3f}", "step": f"{step_s:g}"})
        return [(s.get("metric", {}), [(float(t), float(v)) for t, v in s.get("values", [])])
                for s in data.get("result", [])]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.clear()
            self._pool = None

    def _get(self, path: str, fields: dict) -> dict:
        if self._pool is None:
            self._pool = urllib3.PoolManager(timeout=urllib3.Timeout(self._timeout), retries=False)
        url = self._base_url + path
        try:
            response = self._pool.request("GET", url, fields=fields)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise PrometheusUnreachable(f"Prometheus at {self._base_url} is unreachable "
                                        f"({type(getattr(exc, 'reason', None) or exc).__name__})") from None
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"GET {path} answered HTTP {response.status} without JSON") from None
        if response.status != 200 or body.get("status") != "success":
            raise PrometheusError(f"GET {path} answered HTTP {response.status}: "
                                  f"{body.get('errorType', '')} {body.get('error', '')}".strip())
        return body.get("data") or {}
