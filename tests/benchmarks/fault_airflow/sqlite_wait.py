"""Connect arguments for the fault benchmark's Airflow (its SQLite metadata database).

Hundreds of runs on a 2-core machine keep SQLite's one writer busy; at the default 5 s a
scheduler write gives up ("database is locked") and the scheduler exits. Waiting longer (20 s)
for the lock is what a real deployment's Postgres would do anyway.
"""

CONNECT_ARGS = {"timeout": 20}
