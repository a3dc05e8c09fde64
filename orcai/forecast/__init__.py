"""Forecasts of running work: when each queued or running DAG run will finish (p50/p80),
whether it will make its deadline, and which task to watch.

    replay            the Monte Carlo replay of a run's remaining tasks over the DAG (pure)
    branches          which tasks each replay skips, drawn from the DAG's past runs that agree
                      with the run so far, trigger rules for the rest (pure)
    load              how busy a pool is, now and when each past task became ready; the start
                      lags a task had at a load like now's (pure)
    deadlines         a run's deadline from a page setting, tag, param or ORCAI_DEADLINES (pure)
    deadline_setting  an admin's deadline for a DAG, set on the Runs page (role-checked)
    stage             the worker stage: read active runs and their history, forecast, store

Stored on each DagRun: eta_p50, eta_p80, forecast_at, deadline, breach_risk, progress,
watch_task, watch_reason, forecast_tasks (each unfinished task's expected start and end, for
the Runs page's Gantt) and eta_history (the forecasts made, to measure them).
"""
