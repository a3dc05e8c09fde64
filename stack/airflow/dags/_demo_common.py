"""Shared knobs for the ORC AI demo DAGs.

The demo DAGs exist so that a fresh `make up` has live history within minutes. Their
schedules are short on purpose; ORC_DEMO_INTERVAL_MIN stretches them on slower machines.

A failed demo task posts to Slack through the Slack provider's notifier when the
`slack_default` connection is configured (`AIRFLOW_CONN_SLACK_DEFAULT`, a
slack-incoming-webhook connection); without it the DAGs parse and run the same, silently.
"""

import os
from datetime import datetime, timedelta, timezone

DEMO_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
DEMO_TAGS = ["orcai-demo"]


def every(minutes: int) -> timedelta:
    """A demo schedule, scaled by ORC_DEMO_INTERVAL_MIN (default 1 = as written)."""
    scale = max(1, int(os.environ.get("ORC_DEMO_INTERVAL_MIN", "1")))
    return timedelta(minutes=minutes * scale)


def sleep_from_conf(default_s: int) -> str:
    """A bash command that sleeps `sleep_s` from the run's conf (default `default_s`): how the
    demos make a task slow or hang on demand, for forecasts and stuck-work policies."""
    return "sleep {{ (dag_run.conf or {}).get('sleep_s', %d) | int }}" % default_s


SLACK_CONN_ID = "slack_default"
FAILURE_TEXT = (":red_circle: Airflow task failed: *{{ ti.dag_id }}.{{ ti.task_id }}* "
                "in run `{{ run_id }}` (try {{ ti.try_number }}). <{{ ti.log_url }}|Open the log>")


def failure_callbacks() -> dict:
    """`on_failure_callback` for default_args, only when the Slack connection is configured."""
    if not os.environ.get(f"AIRFLOW_CONN_{SLACK_CONN_ID.upper()}"):
        return {}
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
    return {"on_failure_callback": SlackWebhookNotifier(slack_webhook_conn_id=SLACK_CONN_ID, text=FAILURE_TEXT)}


DEFAULT_ARGS = {"owner": "data-platform", "retries": 0, **failure_callbacks()}
