"""Connect arguments for the fault benchmark's Airflow (its SQLite metadata database).

Hundreds of runs on a 2-core machine keep SQLite's one writer busy; at the default 5 s a
scheduler write gives up ("database is locked") and the scheduler exits. Waiting longer for
the lock is what a real deployment's Postgres would do anyway. 20 s was not enough at a load
average of 14 from other builds (2026-11-29: the scheduler exited 8 min into the warm-up).
"""

CONNECT_ARGS = {"timeout": 60}
