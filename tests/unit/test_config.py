"""Settings: validation names the variable; secrets come from env or files, never printed."""

import json
import re
from pathlib import Path

import pytest

from orcai.config import Settings, load_settings
from orcai.errors import ConfigError

SETTINGS_DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


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
    assert main([]) == 2  # not pytest's own argv
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


def test_every_setting_is_documented():
    documented = set(re.findall(r"`(ORCAI_[A-Z_]+)`", SETTINGS_DOC.read_text()))
    expected = {f"ORCAI_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "undocumented settings"
    # Read by `make up`, the tests and the orcai_cycle DAG file, not by Settings.
    elsewhere = {"ORCAI_APP_PORT", "ORCAI_APP_HOST", "ORCAI_AIRFLOW_PORT", "ORCAI_TEST_NEO4J_URI", "ORCAI_PYTHON", "ORCAI_DIR", "ORCAI_CYCLE_SCHEDULE"}
    assert documented - expected - elsewhere == set(), "documented but unknown"


def _make_up_record(home, port=6380):
    """What `make up` leaves for the other commands: its generated files, recorded by path."""
    from orcai.localstack.secret_files import ensure_secret_file, record_local_stack
    for name in ("falkordb_password", "admin_password"):
        ensure_secret_file(home / name)
    (home / "airflow").mkdir()
    (home / "airflow" / "passwords.json").write_text(json.dumps({"admin": "airflow-secret"}))
    record_local_stack(home, port, {
        "ORCAI_GRAPH_PASSWORD_FILE": str(home / "falkordb_password"),
        "ORCAI_AIRFLOW_URL": "http://localhost:8089", "ORCAI_AIRFLOW_USERNAME": "admin",
        "ORCAI_AIRFLOW_PASSWORD_FILE": str(home / "airflow" / "passwords.json"),
        "ORCAI_ADMIN_PASSWORD_FILE": str(home / "admin_password")})


def test_commands_after_make_up_log_in_with_its_generated_secrets(tmp_path):
    _make_up_record(tmp_path)
    settings = load_settings(home=tmp_path)
    assert settings.graph_password.get_secret_value() == (tmp_path / "falkordb_password").read_text().strip()
    assert settings.admin_password.get_secret_value() == (tmp_path / "admin_password").read_text().strip()
    assert settings.airflow_password.get_secret_value() == "airflow-secret"
    record = (tmp_path / "local_stack.json").read_text()
    assert "airflow-secret" not in record and settings.graph_password.get_secret_value() not in record


def test_make_up_secrets_apply_only_to_its_own_graph_and_never_over_a_set_value(tmp_path, monkeypatch):
    _make_up_record(tmp_path)
    other_graph = load_settings(home=tmp_path, graph_uri="falkor://127.0.0.1:6390/orcai")
    assert other_graph.graph_password is None and other_graph.admin_password is None
    assert load_settings(home=tmp_path, graph_uri="bolt://localhost:6380/neo4j").graph_password is None
    monkeypatch.setenv("ORCAI_GRAPH_PASSWORD", "mine")
    monkeypatch.setenv("ORCAI_AIRFLOW_TOKEN", "a-jwt")
    settings = load_settings(home=tmp_path)
    assert settings.graph_password.get_secret_value() == "mine"
    assert settings.airflow_password is None and settings.airflow_password_file is None
    assert settings.admin_password is not None  # a group left unset still comes from make up


def test_the_make_up_record_never_holds_a_secret(tmp_path):
    from orcai.localstack.secret_files import record_local_stack
    for name in ("ORCAI_GRAPH_PASSWORD", "ORCAI_AIRFLOW_TOKEN", "ORCAI_ADMIN_PASSWORD"):
        with pytest.raises(ValueError):
            record_local_stack(tmp_path, 6380, {name: "s3cret"})
