"""Airflow REST payloads -> records, through the same client models the sync parses with."""

from datetime import datetime, timezone

from airflow_client.client.models import DAGResponse, DAGRunResponse, TaskInstanceResponse, TaskResponse

from orcai.airflow.records import dag_record, dag_run_record, task_record, task_run_record

DAG = {
    "dag_id": "etl_orders", "dag_display_name": "etl_orders", "is_paused": False, "is_stale": False,
    "fileloc": "/dags/etl_orders.py", "relative_fileloc": "etl_orders.py", "file_token": "x",
    "bundle_name": "dags-folder", "description": "Orders ETL", "timetable_summary": "0:03:00",
    "timetable_description": "", "tags": [{"name": "orders", "dag_id": "etl_orders", "dag_display_name": "etl_orders"},
                                          {"name": "etl", "dag_id": "etl_orders", "dag_display_name": "etl_orders"}],
    "owners": ["data-platform"], "max_active_tasks": 16, "max_active_runs": 1,
    "max_consecutive_failed_dag_runs": 0, "has_task_concurrency_limits": False, "has_import_errors": False,
    "next_dagrun_run_after": "2026-11-25T17:37:13.787930Z", "timetable_partitioned": False,
    "timetable_periodic": True, "is_backfillable": True,
}

RUN = {
    "dag_run_id": "scheduled__2026-11-25T17:33:13+00:00", "dag_id": "etl_orders",
    "logical_date": "2026-11-25T17:33:13Z", "queued_at": "2026-11-25T17:33:14Z",
    "start_date": "2026-11-25T17:33:15Z", "end_date": "2026-11-25T17:33:20.5Z", "duration": 5.5,
    "run_after": "2026-11-25T17:33:13Z", "run_type": "scheduled", "state": "failed",
    "triggered_by": "timetable", "conf": {}, "dag_versions": [], "dag_display_name": "etl_orders",
}

TI = {
    "id": "01a213c4-c9ab-70d8-9f3b-db76677d97f9", "task_id": "load", "dag_id": "etl_orders",
    "dag_run_id": RUN["dag_run_id"], "map_index": -1, "logical_date": "2026-11-25T17:33:13Z",
    "run_after": "2026-11-25T17:33:13Z", "start_date": "2026-11-25T17:33:18Z",
    "end_date": "2026-11-25T17:33:20Z", "duration": 2.0, "state": "failed", "try_number": 2,
    "max_tries": 1, "task_display_name": "load", "dag_display_name": "etl_orders",
    "hostname": "worker-1", "unixname": "airflow", "pool": "default_pool", "pool_slots": 1,
    "queue": "default", "priority_weight": 1, "operator": "BashOperator", "operator_name": "BashOperator",
    "queued_when": "2026-11-25T17:33:16.5Z", "executor_config": "{}", "rendered_fields": {},
}


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_dag_record_keeps_what_operators_filter_on():
    record = dag_record(DAGResponse.from_dict(DAG))
    assert record.dag_id == "etl_orders" and record.is_paused is False
    assert record.tags == ("etl", "orders")  # sorted, so a reorder in Airflow is no change
    assert record.owners == ("data-platform",)
    assert record.schedule == "0:03:00" and record.timetable is None
    assert record.next_run_at == ms(datetime(2026, 11, 25, 17, 37, 13, 787930, tzinfo=timezone.utc))


def test_dag_run_record_uses_epoch_ms_and_plain_strings():
    record = dag_run_record(DAGRunResponse.from_dict(RUN))
    assert record.key == "etl_orders/scheduled__2026-11-25T17:33:13+00:00"
    assert record.state == "failed" and record.run_type == "scheduled" and record.triggered_by == "timetable"
    assert record.start_date == ms(datetime(2026, 11, 25, 17, 33, 15, tzinfo=timezone.utc))
    assert record.end_date == record.start_date + 5_500
    assert record.duration_s == 5.5


def test_task_run_record_measures_queue_time():
    record = task_run_record(TaskInstanceResponse.from_dict(TI))
    assert record.key == "etl_orders/scheduled__2026-11-25T17:33:13+00:00/load/-1"
    assert record.task_key == "etl_orders.load"
    assert record.queued_s == 1.5 and record.try_number == 2 and record.state == "failed"


def test_task_run_without_start_has_no_queue_time():
    record = task_run_record(TaskInstanceResponse.from_dict({**TI, "start_date": None, "state": "queued"}))
    assert record.queued_s is None and record.state == "queued"


def test_task_record_keeps_downstream_ids_out_of_node_properties():
    task = TaskResponse.from_dict({"task_id": "extract", "operator_name": "BashOperator",
                                   "downstream_task_ids": ["transform"], "retries": 2.0, "pool": "default_pool",
                                   "depends_on_past": False, "extra_links": [], "retry_exponential_backoff": 0,
                                   "wait_for_downstream": False})
    record = task_record("etl_orders", task)
    assert record.key == "etl_orders.extract" and record.retries == 2
    assert record.downstream_task_ids == ("transform",)
    assert "downstream_task_ids" not in record.props()
    assert record.deadline is None


def test_task_record_reads_the_dags_deadline_param():
    """Airflow hands every task its DAG's params, each dumped as {"value": ..., ...}."""
    base = {"task_id": "publish", "depends_on_past": False, "extra_links": [], "retry_exponential_backoff": 0,
            "wait_for_downstream": False}
    param = {"value": "07:00", "description": "done by", "schema": {}, "source": "dag"}
    assert task_record("report", TaskResponse.from_dict({**base, "params": {"deadline": param}})).deadline == "07:00"
    assert task_record("report", TaskResponse.from_dict({**base, "params": {"region": {"value": "eu"}}})).deadline is None
