"""Settings: validation names the variable; secrets come from env or files, never printed."""

import json
import re
from pathlib import Path

import pytest

from orcai.config import Settings, load_settings
from orcai.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_are_the_embedded_stack():
    settings = load_settings()
    assert settings.graph_uri == "falkor://127.0.0.1:6380/orcai"
    assert settings.sync_interval_s == 60 and settings.page_size == 1000


def test_env_variables_are_read(monkeypatch):
    monkeypatch.setenv("ORCAI_SYNC_INTERVAL_S", "15")
    monkeypatch.setenv("ORCAI_AIRFLOW_URL", "https://airflow.example.com/")
    settings = load_settings()
    assert settings.sync_interval_s == 15 and settings.airflow_url == "https://airflow.example.com"


@pytest.mark.parametrize("name, value", [
    ("ORCAI_GRAPH_URI", "mysql://db:3306"), ("ORCAI_SYNC_INTERVAL_S", "1"),
    ("ORCAI_AIRFLOW_URL", "localhost:8080"), ("ORCAI_PAGE_SIZE", "zero"),
    ("ORCAI_METRICS_PORT", "70000"), ("ORCAI_METRICS_PORT", "-1"), ("ORCAI_APP_URL", "ftp://orcai"),
    ("ORCAI_SLACK_API_URL", "slack.com/api"), ("ORCAI_SLACK_TIMEOUT_S", "0"),
    ("ORCAI_AIRFLOW_TIMEOUT_S", "-5"), ("ORCAI_GRAPH_URI", "falkor://:6380/orcai"),
    ("ORCAI_DETECTOR", "magic"), ("ORCAI_SYNC_LOOKBACK_DAYS", "0"),
])
def test_invalid_values_name_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_one_bad_setting_is_one_line_at_worker_start(monkeypatch, caplog):
    from workers.worker import main
    monkeypatch.setenv("ORCAI_METRICS_PORT", "70000")
    assert main([]) == 2  # not pytest's own command line
    lines = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(lines) == 1 and "ORCAI_METRICS_PORT" in lines[0]


def test_secret_files_feed_every_secret(tmp_path):
    for name in ("slack_webhook_url", "slack_bot_token", "admin_password"):
        (tmp_path / name).write_text(f"{name}-value\n")
    settings = load_settings(**{f"{name}_file": tmp_path / name
                                for name in ("slack_webhook_url", "slack_bot_token", "admin_password")})
    assert settings.slack_webhook_url.get_secret_value() == "slack_webhook_url-value"
    assert settings.slack_bot_token.get_secret_value() == "slack_bot_token-value"
    assert settings.admin_password.get_secret_value() == "admin_password-value"
    assert "-value" not in repr(settings)


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("ORCAI_AIRFLOW_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("ORCAI_GRAPH_PASSWORD", "neo-secret")
    settings = load_settings()
    assert settings.airflow_password.get_secret_value() == "hunter2-secret"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2-secret" not in text and "neo-secret" not in text


def test_password_file_plain_or_airflow_json(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("s3cret\n")
    assert load_settings(airflow_password_file=plain).airflow_password.get_secret_value() == "s3cret"
    generated = tmp_path / "passwords.json"
    generated.write_text(json.dumps({"admin": "from-airflow", "other": "x"}))
    assert load_settings(airflow_password_file=generated).airflow_password.get_secret_value() == "from-airflow"


def test_missing_password_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read password file"):
        load_settings(airflow_password_file=tmp_path / "absent")


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"`(ORCAI_[A-Z_]+)`", README.read_text()))
    expected = {f"ORCAI_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "undocumented settings"
    # Read by `make up`, the tests and the orcai_cycle DAG file, not by Settings.
    elsewhere = {"ORCAI_APP_PORT", "ORCAI_APP_HOST", "ORCAI_TEST_NEO4J_URI", "ORCAI_PYTHON", "ORCAI_DIR", "ORCAI_CYCLE_SCHEDULE"}
    assert documented - expected - elsewhere == set(), "documented but unknown"
