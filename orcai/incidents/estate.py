"""The lineage estate an incident and an alert's reach are judged on, read at most once a
worker cycle.

The incident stage groups symptoms on it and the Slack stage names what each new anomaly
hits downstream (orcai.lineage.blast_radius.reach_of). Both run after the cycle's sync and
neither changes tasks, assets or their links, so one read serves both; it is made on first
use, so a quiet cycle (no symptom, no new anomaly) reads nothing.
"""

from __future__ import annotations

from orcai.graph import Graph, incident_store
from orcai.incidents.topology import Topology, topology_from_rows


class CycleEstate:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.reads = 0  # how many times the graph was read (0 or 1)
        self._topology: Topology | None = None

    def topology(self) -> Topology:
        if self._topology is None:
            self._topology = topology_from_rows(incident_store.estate(self.graph))
            self.reads += 1
        return self._topology
