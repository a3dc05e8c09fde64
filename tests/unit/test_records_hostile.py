"""Property-based: any REST payload maps to records that keep every string verbatim, or is
refused as malformed with a message naming the field: never silently altered."""

from __future__ import annotations

import pytest
from airflow_client.client.models import DAGResponse, DAGRunResponse, TaskResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from orcai.airflow.records import MAX_IDENTIFIER_LENGTH, dag_record, dag_run_record, identifier, task_record
from orcai.errors import AirflowResponseError
from tests.hostile import HOSTILE_STRINGS, valid_identifier
from tests.unit.test_records import DAG, RUN

# Any unicode text except lone surrogates (which JSON cannot carry from Airflow anyway).
any_text = st.one_of(st.sampled_from(HOSTILE_STRINGS),
                     st.text(st.characters(exclude_categories=("Cs",)), min_size=0, max_size=300))
TASK = {"operator_name": "BashOperator", "retries": 0, "pool": "default_pool", "depends_on_past": False,
        "extra_links": [], "retry_exponential_backoff": 0, "wait_for_downstream": False}


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_injection_and_markup_looking_ids_are_kept(text):
    if len(text) <= MAX_IDENTIFIER_LENGTH and "\n" not in text:
        assert identifier(text, "dag_id") == text


@pytest.mark.parametrize("text", ["", "   ", "a\x00b", "a\x01b", "tab\there", "x" * 5000, "etl ", " etl"])
def test_ids_the_graph_cannot_index_are_refused_by_name(text):
    with pytest.raises(AirflowResponseError, match="invalid task_id"):
        identifier(text, "task_id")


@settings(max_examples=100, deadline=None)
@given(dag_id=any_text, description=any_text, tags=st.lists(any_text, max_size=5, unique=True),
       owners=st.lists(any_text, max_size=3))
def test_dag_strings_are_kept_verbatim_or_refused(dag_id, description, tags, owners):
    payload = {**DAG, "dag_id": dag_id, "dag_display_name": dag_id, "description": description,
               "owners": owners,
               "tags": [{"name": t, "dag_id": dag_id, "dag_display_name": dag_id} for t in tags]}
    response = DAGResponse.from_dict(payload)
    if not all(valid_identifier(t) for t in [dag_id, *tags, *owners]):
        with pytest.raises(AirflowResponseError, match="invalid (dag_id|tag|owner)"):
            dag_record(response)
        return
    record = dag_record(response)
    assert record.dag_id == dag_id and record.description == description.replace("\x00", "")
    assert record.tags == tuple(sorted(tags)) and record.owners == tuple(owners)


@settings(max_examples=100, deadline=None)
@given(task_id=any_text, downstream=st.lists(any_text, max_size=4, unique=True))
def test_task_keys_are_built_from_the_ids_as_given(task_id, downstream):
    response = TaskResponse.from_dict({**TASK, "task_id": task_id, "downstream_task_ids": downstream})
    if not all(valid_identifier(t) for t in [task_id, *downstream]):
        with pytest.raises(AirflowResponseError, match="invalid task_id"):
            task_record("etl_orders", response)
        return
    record = task_record("etl_orders", response)
    assert record.key == f"etl_orders.{task_id}" and record.task_id == task_id
    assert set(record.downstream_task_ids) == set(downstream)


@settings(max_examples=100, deadline=None)
@given(run_id=any_text)
def test_run_keys_keep_the_run_id(run_id):
    response = DAGRunResponse.from_dict({**RUN, "dag_run_id": run_id})
    if not valid_identifier(run_id):
        with pytest.raises(AirflowResponseError, match="invalid dag_run_id"):
            dag_run_record(response)
        return
    assert dag_run_record(response).key == f"etl_orders/{run_id}"
