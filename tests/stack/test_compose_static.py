"""The compose stack, checked without a Docker engine: files, ports, health, wiring, secrets."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from orcai.config import Settings
from tests.stack.tools import STACK

REPO = STACK.parent
COMPOSE_FILE = STACK / "docker-compose.yml"
ENV_EXAMPLE = STACK / ".env.example"
EXPECTED_SERVICES = {
    "postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker", "statsd-exporter", "prometheus", "alertmanager", "grafana",
    "neo4j", "orcai-worker", "orcai-app",
}
# Services without a health check, and why (the compose file says the same next to them).
WITHOUT_HEALTHCHECK = {"airflow-init": "one-shot: migrates the database, creates the admin user, exits"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|AUTH$|WEBHOOK")
# ${VAR}, ${VAR:-default}, ${VAR:?error}; `$${...}` is a literal dollar for the container's shell.
VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {name: value for name, value in pairs}


def resolve(text: str) -> str:
    """Interpolate like compose does with stack/.env copied from the example."""
    values = env_example()
    return VARIABLE.sub(lambda m: values.get(m.group(1)) or (m.group(3) if m.group(2) == "-" else ""), str(text))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return env if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def test_every_service_of_the_stack_is_there(services):
    assert set(services) == EXPECTED_SERVICES


def test_images_are_pinned(services):
    for name, service in services.items():
        image = resolve(service["image"])
        assert ":" in image and not image.endswith(":latest"), f"{name} runs an unpinned image {image}"
    assert resolve(services["neo4j"]["image"]).startswith("neo4j:5")
    assert resolve(services["airflow-apiserver"]["image"]).startswith("apache/airflow:3.3")


def test_every_referenced_file_exists(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (STACK / source).resolve().exists(), f"{name} mounts missing {source}"
        if "build" in service:
            context = (STACK / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_config_files_named_in_commands_are_mounted(services):
    for name, service in services.items():
        command = service.get("command")
        for argument in command if isinstance(command, list) else []:
            path = argument.split("=", 1)[-1]
            if argument.startswith("--") and path.startswith("/etc/"):
                targets = [v.split(":")[1] for v in service.get("volumes", [])]
                assert any(path == t or path.startswith(t + "/") for t in targets), f"{name}: {path} is not mounted"


def test_the_dockerfile_builds_the_app_from_requirements():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (REPO / source).exists(), f"the Dockerfile copies missing {source}"


def test_host_ports_do_not_collide(services):
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host = resolve(port).rsplit(":", 1)[0]
            assert host not in published, f"{name} and {published.get(host)} both publish {host}"
            published[host] = name
    assert {"8080", "8501", "3000", "9090", "9093", "7474", "7687"} <= set(published)


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in WITHOUT_HEALTHCHECK:
            assert "healthcheck" not in service and service.get("restart") == "no", name
        else:
            check = service.get("healthcheck", {})
            assert check.get("test") and check.get("interval"), f"{name} has no health check"


def test_dependencies_wait_for_what_they_need(services):
    for name, service in services.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s missing health check"
            else:
                assert condition == "service_completed_successfully" and target in WITHOUT_HEALTHCHECK
    waits = {name: {t for t, spec in (s.get("depends_on") or {}).items()} for name, s in services.items()}
    for airflow in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"):
        # Airflow resolves the StatsD host once at start: without it, it silently sends nothing.
        assert {"postgres", "redis", "airflow-init", "statsd-exporter"} <= waits[airflow], airflow
    assert {"neo4j", "airflow-apiserver"} <= waits["orcai-worker"]
    assert "neo4j" in waits["orcai-app"] and "prometheus" in waits["grafana"]


def test_orcai_settings_are_the_documented_ones(services):
    settings_doc = (REPO / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"^\| `(ORCAI_[A-Z_]+)` \|", settings_doc, flags=re.M))
    settings = {f"ORCAI_{name.upper()}" for name in Settings.model_fields}
    used = {key for name in ("orcai-worker", "orcai-app") for key in environment(services[name])}
    assert used and used <= documented & settings


def test_no_secret_is_written_in_the_compose_file(services):
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"hooks\.slack\.com|xox[abp]-", text)
    for name, service in services.items():
        for key, value in environment(service).items():
            value = str(value)
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "__FILE")):
                variables = VARIABLE.findall(value)
                assert variables, f"{name}: {key} is a literal"
                assert all(kind == "?" for _, kind, _ in variables), f"{name}: {key} has a default"
            for secret_in_url in re.findall(r"://[^:/@]+:([^@]+)@", value):
                assert VARIABLE.fullmatch(secret_in_url), f"{name}: {key} holds a password"


def test_secret_files_are_mounted_where_they_are_read(compose, services):
    declared = set(compose["secrets"])
    for name, service in services.items():
        mounted = set(service.get("secrets", []))
        assert mounted <= declared
        for value in map(str, environment(service).values()):
            for secret in re.findall(r"/run/secrets/(\w+)", value):
                assert secret in mounted, f"{name} reads /run/secrets/{secret} but does not mount it"
    alertmanager = yaml.safe_load((STACK / "alertmanager" / "alertmanager.yml").read_text())
    secret = alertmanager["global"]["slack_api_url_file"].removeprefix("/run/secrets/")
    assert secret in services["alertmanager"]["secrets"]


def test_env_example_lists_exactly_the_variables_the_compose_file_uses(compose):
    used = {m.group(1) for m in VARIABLE.finditer(COMPOSE_FILE.read_text())}
    used |= {spec["environment"] for spec in compose["secrets"].values()}
    example = env_example()
    assert used == set(example)
    for name, value in example.items():
        if SECRET_NAME.search(name) and name not in ("AIRFLOW_ADMIN_USER", "GRAFANA_ADMIN_USER"):
            assert value == "", f"{name} has a value in the example: secrets are filled in stack/.env only"


def test_the_env_file_with_the_secrets_is_git_ignored():
    result = subprocess.run(["git", "check-ignore", "--quiet", "stack/.env"], cwd=REPO)
    assert result.returncode == 0, "stack/.env must be git-ignored"
    assert subprocess.run(["git", "check-ignore", "--quiet", "stack/.env.example"], cwd=REPO).returncode == 1


def test_scrape_targets_and_statsd_point_at_the_services(services):
    prometheus = yaml.safe_load((STACK / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"][0] for job in prometheus["scrape_configs"]}
    worker_env = environment(services["orcai-worker"])
    assert targets["orcai-worker"] == f"orcai-worker:{worker_env['ORCAI_METRICS_PORT']}"
    assert worker_env["ORCAI_METRICS_HOST"] == "0.0.0.0"
    exporter_args = services["statsd-exporter"]["command"]
    assert f"--web.listen-address=:{targets['statsd-exporter'].split(':')[1]}" in exporter_args
    airflow_env = environment(services["airflow-scheduler"])
    assert airflow_env["AIRFLOW__METRICS__STATSD_ON"] == "true"
    assert airflow_env["AIRFLOW__METRICS__STATSD_HOST"] == "statsd-exporter"
    assert f"--statsd.listen-udp=:{airflow_env['AIRFLOW__METRICS__STATSD_PORT']}" in exporter_args
    alertmanagers = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"] and "alertmanager" in services
    datasource = yaml.safe_load((STACK / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_orcai_reaches_airflow_and_neo4j_inside_the_stack(services):
    env = environment(services["orcai-worker"])
    assert env["ORCAI_AIRFLOW_URL"] == "http://airflow-apiserver:8080"
    assert env["ORCAI_GRAPH_URI"].startswith("bolt://neo4j:7687")
    assert Settings(**{k.removeprefix("ORCAI_").lower(): resolve(v) for k, v in env.items()
                       if not k.endswith("_FILE")})  # the values pass ORC AI's own validation
