"""Mapping Airflow REST API responses to ORC AI records: pure functions, no I/O."""

from __future__ import annotations

from airflow_client.client.models import (
    AssetResponse, DAGResponse, DAGRunResponse, TaskInstanceResponse, TaskResponse,
)

from orcai.model import AssetRecord, DagRecord, DagRunRecord, TaskRecord, TaskRunRecord, epoch_ms


def dag_record(dag: DAGResponse) -> DagRecord:
    return DagRecord(
        dag_id=dag.dag_id,
        is_paused=bool(dag.is_paused),
        schedule=dag.timetable_summary,
        timetable=dag.timetable_description or None,
        description=dag.description,
        owners=tuple(dag.owners or ()),
        tags=tuple(sorted(tag.name for tag in dag.tags or ())),
        fileloc=dag.relative_fileloc or dag.fileloc,
        max_active_runs=dag.max_active_runs,
        has_import_errors=bool(dag.has_import_errors),
        next_run_at=epoch_ms(dag.next_dagrun_run_after),
    )


def task_record(dag_id: str, task: TaskResponse) -> TaskRecord:
    return TaskRecord(
        dag_id=dag_id,
        task_id=task.task_id,
        operator=task.operator_name,
        pool=task.pool,
        retries=int(task.retries) if task.retries is not None else None,
        queue=task.queue,
        trigger_rule=task.trigger_rule,
        is_mapped=bool(task.is_mapped),
        owner=task.owner,
        downstream_task_ids=tuple(sorted(task.downstream_task_ids or ())),
    )


def dag_run_record(run: DAGRunResponse) -> DagRunRecord:
    return DagRunRecord(
        dag_id=run.dag_id,
        run_id=run.dag_run_id,
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
        dag_id=ti.dag_id,
        run_id=ti.dag_run_id,
        task_id=ti.task_id,
        map_index=ti.map_index if ti.map_index is not None else -1,
        state=_enum_value(ti.state),
        try_number=ti.try_number,
        start_date=epoch_ms(ti.start_date),
        end_date=epoch_ms(ti.end_date),
        duration_s=ti.duration,
        queued_s=queued_s,
        pool=ti.pool,
        hostname=ti.hostname or None,
        operator=ti.operator_name or ti.operator,
    )


def _enum_value(value) -> str | None:
    return None if value is None else getattr(value, "value", value)


def asset_record(asset: AssetResponse) -> AssetRecord:
    last_event = asset.last_asset_event
    return AssetRecord(
        uri=asset.uri,
        name=asset.name,
        group=asset.group,
        producers=tuple(sorted((t.dag_id, t.task_id) for t in asset.producing_tasks or ())),
        consumers=tuple(sorted((t.dag_id, t.task_id) for t in asset.consuming_tasks or ())),
        scheduled_dags=tuple(sorted({d.dag_id for d in asset.scheduled_dags or ()})),
        last_event_at=epoch_ms(last_event.timestamp) if last_event and last_event.timestamp else None,
    )
