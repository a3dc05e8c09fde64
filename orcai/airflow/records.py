"""Mapping Airflow REST API responses to ORC AI records: pure functions, no I/O.

Every string is kept verbatim, except that identifiers the graph looks nodes up by (DAG,
task, run and asset ids, tags, owners) must be what Airflow itself allows: Airflow limits
ids to 250 word characters, dots and dashes. FalkorDB's index cannot find strings with
control characters or longer than ~4 KB, and a lookup of `x` also finds `x ` while one of
`x ` finds nothing (measured: such a merge silently creates a duplicate node every sync),
so a payload breaking those rules is refused as malformed, naming the field, instead of
being stored wrongly. Free text (descriptions, file paths)
is kept verbatim except for NUL characters, which FalkorDB's query protocol cannot carry
(and Postgres, Airflow's usual database, cannot store).
"""

from __future__ import annotations

import unicodedata

from airflow_client.client.models import (
    AssetResponse, DAGResponse, DAGRunResponse, TaskInstanceResponse, TaskResponse,
)

from orcai.errors import AirflowResponseError
from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord, epoch_ms

MAX_IDENTIFIER_LENGTH = 1000


def free_text(value: str | None) -> str | None:
    return None if value is None else value.replace("\x00", "")


def identifier(value: str | None, what: str) -> str:
    """`value` if the graph can key a node on it; otherwise AirflowResponseError naming `what`."""
    if value and len(value) <= MAX_IDENTIFIER_LENGTH and value.strip() == value and not any(
            unicodedata.category(char) == "Cc" for char in value):
        return value
    shown = repr(value[:60]) + ("…" if value and len(value) > 60 else "") if value else repr(value)
    raise AirflowResponseError(
        f"Airflow sent an invalid {what} {shown}: identifiers must be 1-{MAX_IDENTIFIER_LENGTH} "
        "characters, without control characters or surrounding spaces")


def dag_record(dag: DAGResponse) -> DagRecord:
    return DagRecord(
        dag_id=identifier(dag.dag_id, "dag_id"),
        is_paused=bool(dag.is_paused),
        schedule=dag.timetable_summary,
        timetable=dag.timetable_description or None,
        description=free_text(dag.description),
        owners=tuple(identifier(owner, "owner") for owner in dag.owners or ()),
        tags=tuple(sorted(identifier(tag.name, "tag") for tag in dag.tags or ())),
        fileloc=free_text(dag.relative_fileloc or dag.fileloc),
        max_active_runs=dag.max_active_runs,
        has_import_errors=bool(dag.has_import_errors),
        next_run_at=epoch_ms(dag.next_dagrun_run_after),
    )


def task_record(dag_id: str, task: TaskResponse) -> TaskRecord:
    return TaskRecord(
        dag_id=dag_id,
        task_id=identifier(task.task_id, "task_id"),
        operator=task.operator_name,
        pool=task.pool,
        retries=int(task.retries) if task.retries is not None else None,
        queue=task.queue,
        trigger_rule=task.trigger_rule,
        is_mapped=bool(task.is_mapped),
        owner=task.owner,
        deadline=_deadline_param(task.params),
        downstream_task_ids=tuple(sorted(identifier(t, "task_id") for t in task.downstream_task_ids or ())),
    )


def _deadline_param(params) -> str | None:
    """The `deadline` param's value as text ("07:00", "+2h"); Airflow dumps each param as
    {"value": ..., "description": ..., "schema": ...}. Whether it is a valid deadline is
    for orcai.forecast.deadlines to say."""
    param = (params or {}).get("deadline")
    value = param.get("value") if isinstance(param, dict) else param
    return free_text(str(value))[:40] if isinstance(value, (str, int, float)) and str(value).strip() else None


def dag_run_record(run: DAGRunResponse) -> DagRunRecord:
    return DagRunRecord(
        dag_id=identifier(run.dag_id, "dag_id"),
        run_id=identifier(run.dag_run_id, "dag_run_id"),
        state=_enum_value(run.state),
        run_type=_enum_value(run.run_type),
        logical_date=epoch_ms(run.logical_date),
        run_after=epoch_ms(run.run_after),
        queued_at=epoch_ms(run.queued_at),
        start_date=epoch_ms(run.start_date),
        end_date=epoch_ms(run.end_date),
        duration_s=run.duration,
        triggered_by=_enum_value(run.triggered_by),
    )


def task_run_record(ti: TaskInstanceResponse) -> TaskRunRecord:
    queued_s = None
    if ti.queued_when is not None and ti.start_date is not None:
        queued_s = max(0.0, (ti.start_date - ti.queued_when).total_seconds())
    return TaskRunRecord(
        dag_id=identifier(ti.dag_id, "dag_id"),
        run_id=identifier(ti.dag_run_id, "dag_run_id"),
        task_id=identifier(ti.task_id, "task_id"),
        map_index=ti.map_index if ti.map_index is not None else -1,
        state=_enum_value(ti.state),
        try_number=ti.try_number,
        start_date=epoch_ms(ti.start_date),
        end_date=epoch_ms(ti.end_date),
        duration_s=ti.duration,
        queued_s=queued_s,
        pool=ti.pool,
        hostname=free_text(ti.hostname) or None,
        operator=ti.operator_name or ti.operator,
        queued_when=epoch_ms(ti.queued_when),
        scheduled_when=epoch_ms(ti.scheduled_when),
    )


def _enum_value(value) -> str | None:
    return None if value is None else getattr(value, "value", value)


def asset_record(asset: AssetResponse) -> AssetRecord:
    last_event = asset.last_asset_event
    return AssetRecord(
        uri=identifier(asset.uri, "asset uri"),
        name=free_text(asset.name),
        group=asset.group,
        producers=tuple(sorted((t.dag_id, t.task_id) for t in asset.producing_tasks or ())),
        consumers=tuple(sorted((t.dag_id, t.task_id) for t in asset.consuming_tasks or ())),
        scheduled_dags=tuple(sorted({d.dag_id for d in asset.scheduled_dags or ()})),
        last_event_at=epoch_ms(last_event.timestamp) if last_event and last_event.timestamp else None,
    )


def pool_row(pool) -> dict:
    """A pool as Airflow reports it; full: no open slot while task instances wait for one."""
    row = {name: getattr(pool, name) or 0 for name in ("slots", "occupied_slots", "running_slots", "queued_slots",
                                                       "scheduled_slots", "open_slots")}
    return {"name": pool.name, **row, "full": row["slots"] > 0 and row["open_slots"] <= 0 and row["scheduled_slots"] > 0}
