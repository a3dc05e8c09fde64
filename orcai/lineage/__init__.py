"""Lineage: what is up- and downstream of a task or DAG, inside DAGs and across them
through assets, what a failure would hit, and how much depends on each task.

    algorithms    reachability and criticality over plain edges (pure)
    systems       which external system an asset URI or an operator talks to (pure)
    walks         up/downstream walks over the graph, one DAG hop at a time
    blast_radius  what a failure of a task or DAG hits, ranked
    view          the neighbourhood the Lineage page draws
    criticality   recompute and store how much depends on every DAG and task

The Cypher they need is in `orcai.graph.lineage_store`.
"""
