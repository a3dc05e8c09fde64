"""Feature build and model training; training is sometimes much slower than usual."""

import random
import time

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from _demo_common import DEFAULT_ARGS, DEMO_START, DEMO_TAGS, every

SLOW_RUN_RATE = 0.15


def build_features() -> None:
    time.sleep(1)


def train_model() -> None:
    # Usually ~2 s; now and then a 'cold cache' run takes ~10x longer.
    time.sleep(20 if random.random() < SLOW_RUN_RATE else 2)


with DAG(
    dag_id="ml_training",
    description="Builds features and retrains the churn model.",
    schedule=every(6),
    start_date=DEMO_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "owner": "ml-team"},
    tags=DEMO_TAGS + ["ml"],
):
    features = PythonOperator(task_id="build_features", python_callable=build_features)
    train = PythonOperator(task_id="train_model", python_callable=train_model)
    features >> train
