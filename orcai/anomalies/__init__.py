"""Anomalies in the product: the worker stage that judges new runs and stores verdicts,
and what operators read and decide about them.

    frames   graph rows <-> the DataFrames `orcai.detect` takes, and the records it stores
    monitor  the worker stage: score new runs after each sync, store the anomalous ones
    review   the Anomalies page's reads and an operator's verdict (acknowledge, false positive)
"""
