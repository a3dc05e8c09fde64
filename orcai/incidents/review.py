"""What the Incidents page reads: open and recent incidents, and one incident's timeline."""

from __future__ import annotations

import json

import pandas as pd

from orcai.graph import Graph
from orcai.graph import incident_store as store
from orcai.incidents.grouping import ROOT_KINDS

ROOT_NAMES = {"task": "Task", "asset": "Asset", "pool": "Pool", "external_system": "External system",
              "dag": "DAG", "airflow": "Airflow itself"}
assert set(ROOT_NAMES) == set(ROOT_KINDS)


def root_label(incident: dict) -> str:
    kind = incident.get("root_kind") or ""
    name = ROOT_NAMES.get(kind, kind)
    return name if kind == "airflow" else f"{name} {incident.get('root_key')}"


def _parsed(incident: dict) -> dict:
    out = dict(incident)
    for field in ("evidence", "candidates"):
        try:
            out[field] = json.loads(out.get(field) or "[]")
        except (TypeError, ValueError):
            out[field] = []
    out["root"] = root_label(out)
    return out


def recent_incidents(graph: Graph, since_ms: int) -> list[dict]:
    """Open incidents first, then those resolved since `since_ms`; newest first within each."""
    rows = [_parsed(r["incident"]) for r in store.incidents(graph, since_ms)]
    return sorted(rows, key=lambda i: (i.get("status") != "open", -(i.get("opened_at") or 0)))


def incident_table(incidents: list[dict]) -> pd.DataFrame:
    columns = ["status", "opened_at", "resolved_at", "root", "summary", "size", "key"]
    frame = pd.DataFrame([{c: i.get(c) for c in columns} for i in incidents], columns=columns)
    for column in ("opened_at", "resolved_at"):
        frame[column] = pd.to_datetime(pd.to_numeric(frame[column], errors="coerce"), unit="ms", utc=True)
    return frame


def timeline(graph: Graph, key: str) -> pd.DataFrame:
    """The incident's symptoms, oldest first, with why each task run took so long."""
    columns = ["at", "dag_id", "task", "kind", "label", "reason", "breakdown", "run_id", "key"]
    frame = pd.DataFrame(store.incident_symptoms(graph, key), columns=columns)
    frame["at"] = pd.to_datetime(pd.to_numeric(frame["at"], errors="coerce"), unit="ms", utc=True)
    return frame
