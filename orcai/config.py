"""ORC AI's settings: one object, read from `ORCAI_*` environment variables.

Precedence (highest first): explicit constructor arguments, environment variables, a
`.env` file in the working directory, then the defaults below. A secret can also come
from a file named by its `*_FILE` variable (Docker/Kubernetes secrets); the Airflow
password file may be plain text or Airflow's generated `{"user": "password"}` JSON.
Secrets are `SecretStr`: they print as '**********' and never reach logs or pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orcai.access import DEFAULT_ROLE_GROUPS, parse_role_groups
from orcai.errors import ConfigError
from orcai.forecast.deadlines import deadline_rules
from orcai.localstack.secret_files import local_stack_settings
from orcai.shard import Shard

GRAPH_SCHEMES = ("falkor", "falkors", "bolt", "bolt+s", "neo4j", "neo4j+s")
LOOPBACK = ("127.0.0.1", "localhost")
# Settings `make up` hands to the processes it starts, by what they belong to: a group is
# taken from make up's record only when none of its settings is set (see _local_stack_defaults).
LOCAL_STACK_GROUPS = (
    ("graph_username", "graph_password", "graph_password_file"),
    ("airflow_url", "airflow_username", "airflow_password", "airflow_password_file", "airflow_token"),
    ("admin_password", "admin_password_file"),
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORCAI_", env_file=".env", extra="ignore")

    airflow_url: str = Field("http://localhost:8089", description="Airflow base URL (no /api/v2).")
    airflow_ui_url: str | None = Field(None, description="Airflow UI base URL for links; defaults to airflow_url.")
    airflow_username: str = Field("admin", description="Airflow user for POST /auth/token.")
    airflow_password: SecretStr | None = Field(None, description="Airflow password (secret).")
    airflow_password_file: Path | None = Field(None, description="File holding the Airflow password, plain or Airflow's generated JSON.")
    airflow_token: SecretStr | None = Field(None, description="A ready JWT for Airflow, instead of username/password (secret).")
    airflow_timeout_s: float = Field(15.0, gt=0, description="Timeout of each Airflow API request.")
    airflow_concurrency: int = Field(4, ge=1, le=32, description="Parallel Airflow API requests during a sync.")
    airflow_max_rps: float = Field(10.0, gt=0, description="Most Airflow API requests per second, across the worker's threads (a token bucket; Retry-After is honoured).")
    # Asking for more than the server allows is harmless: Airflow serves at most its
    # [api] maximum_page_limit per page, and pagination advances by what arrived.
    page_size: int = Field(1000, ge=1, le=10_000, description="Items per API page asked for (Airflow serves at most its [api] maximum_page_limit).")

    graph_uri: str = Field("falkor://127.0.0.1:6380/orcai", description="falkor://host:port/graph, or bolt:// / neo4j:// / neo4j+s:// for Neo4j (path = database).")
    graph_username: str | None = Field(None, description="Graph user (Neo4j).")
    graph_password: SecretStr | None = Field(None, description="Graph password (secret).")
    graph_password_file: Path | None = Field(None, description="File holding the graph password.")

    sync_interval_s: int = Field(60, ge=5, description="Seconds between worker syncs.")
    sync_lookback_days: int = Field(30, ge=1, description="History fetched for a DAG seen for the first time.")
    task_refresh_min: int = Field(360, ge=1, description="Minutes after which a DAG's task list is re-read even though its version did not change (catches in-place edits of DAGs without runs).")
    detector: str = Field("robust", description="Anomaly detector: robust (default), isolation_forest or dbscan.")
    detect_lookback_days: int = Field(14, ge=1, description="Run history the detector learns from.")
    detect_risk: float = Field(1e-4, gt=0, lt=0.1, description="Chance that a normal run is flagged: sets every task's threshold from its own tail.")
    detect_refit_min: int = Field(60, ge=1, description="Minutes between refits of the detector's baselines.")
    deadlines: str = Field("", description="Deadlines of DAGs without a `deadline:` tag, by DAG id glob: `report_*=07:00;etl_*=+2h`.")
    worker_name: str = Field("worker", min_length=1, description="Name of this worker's heartbeat node.")
    shard: str = Field("0/1", description="i/n: this worker syncs and judges only the DAGs whose id hashes to shard i of n.")
    app_url: str = Field("http://localhost:8501", description="Where operators open ORC AI; links in Slack messages point here.")
    metrics_port: int = Field(9464, ge=0, le=65535, description="Port of the worker's Prometheus /metrics (0 turns it off).")
    metrics_host: str = Field("127.0.0.1", description="Address the metrics endpoint listens on (0.0.0.0 inside a container).")

    slack_webhook_url: SecretStr | None = Field(None, description="Slack incoming-webhook URL (secret).")
    slack_webhook_url_file: Path | None = Field(None, description="File holding the Slack webhook URL.")
    slack_bot_token: SecretStr | None = Field(None, description="Slack bot token for chat.postMessage, instead of a webhook (secret).")
    slack_bot_token_file: Path | None = Field(None, description="File holding the Slack bot token.")
    slack_channel: str | None = Field(None, description="Channel for the bot token, e.g. #airflow-alerts.")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (a test sink or Slack Enterprise proxy).")
    slack_timeout_s: float = Field(10.0, gt=0, description="Timeout of each Slack request.")
    slack_max_messages_per_min: int = Field(10, ge=1, description="Most Slack messages ORC AI posts in any minute; the rest wait.")
    alert_min_severity: Literal["low", "medium", "high"] = Field(
        "medium", description="Anomalies at or above this severity go to Slack; the rest stay on the Anomalies page.")

    admin_password: SecretStr | None = Field(None, description="Password for write actions in the app (secret); without it the app is read-only.")
    admin_password_file: Path | None = Field(None, description="File holding the admin password.")

    oidc_issuer: str | None = Field(None, description="OpenID Connect issuer URL; set, every page needs a signed-in user (else local mode).")
    oidc_client_id: str | None = Field(None, description="OIDC client id registered at the identity provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="OIDC client secret (secret).")
    oidc_client_secret_file: Path | None = Field(None, description="File holding the OIDC client secret.")
    oidc_cookie_secret: SecretStr | None = Field(None, description="Key that signs the sign-in cookie (secret); generated into home when unset.")
    oidc_cookie_secret_file: Path | None = Field(None, description="File holding the sign-in cookie key.")
    oidc_scopes: str = Field("openid profile email", description="Scopes asked for at sign-in (add the one that releases groups, e.g. groups).")
    oidc_groups_claim: str = Field("groups", min_length=1, description="ID-token claim that lists the person's groups.")
    oidc_role_groups: str = Field(DEFAULT_ROLE_GROUPS, description="role=group pairs, comma-separated: which IdP group grants viewer, operator, admin.")
    oidc_session_max_s: int = Field(43_200, ge=60, description="Seconds a sign-in lasts before the person must sign in again.")

    policy_max_actions_per_hour: int = Field(10, ge=0, description="Enforced policy actions (pause, unpause, mark critical) allowed per hour, across all policies.")
    protected_dags: str = Field("", description="Comma-separated DAG id globs no policy may pause or unpause (ORC AI's own orcai_* DAGs always are).")
    protected_pools: str = Field("", description="Comma-separated Airflow pool name globs no policy may resize.")
    policy_eval_budget_s: float = Field(1.0, gt=0, le=60, description="Time budget of one condition evaluation; past it the evaluation is stopped and the policy disabled.")
    prometheus_url: str | None = Field(None, description="Prometheus base URL for resource facts (resource.<name> in conditions); unset: no resource facts.")
    prometheus_timeout_s: float = Field(5.0, gt=0, description="Timeout of each Prometheus query.")
    resources_file: Path = Field(Path("stack/policies/resources.yaml"), description="YAML list of named PromQL queries exposed to conditions as resource.<name>.")
    policies_dir: Path = Field(Path("stack/policies"), description="Folder of default policies (*.yaml) the worker installs once.")

    home: Path = Field(Path(".orcai"), description="Local data folder (embedded FalkorDB, local Airflow).")
    log_level: str = Field("INFO", description="Python log level for the worker.")

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, name: str) -> str:
        if name not in ("robust", "isolation_forest", "dbscan"):
            raise ValueError("must be robust, isolation_forest or dbscan")
        return name

    @field_validator("deadlines")
    @classmethod
    def _valid_deadlines(cls, text: str) -> str:
        deadline_rules(text)
        return text

    @field_validator("shard")
    @classmethod
    def _valid_shard(cls, text: str) -> str:
        return str(Shard.parse(text))

    @field_validator("graph_uri")
    @classmethod
    def _known_graph_scheme(cls, uri: str) -> str:
        parsed = urlparse(uri)
        if parsed.scheme not in GRAPH_SCHEMES or not parsed.hostname:
            raise ValueError(f"must look like falkor://host:port/graph or bolt://host:port, got scheme {parsed.scheme!r}")
        return uri

    @field_validator("oidc_issuer", "oidc_client_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("oidc_role_groups")
    @classmethod
    def _valid_role_groups(cls, text: str) -> str:
        try:
            parse_role_groups(text)
        except ConfigError as exc:
            raise ValueError(str(exc).partition(": ")[2]) from None
        return text

    @field_validator("airflow_url", "airflow_ui_url", "app_url", "slack_api_url", "oidc_issuer",
                     "prometheus_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return url
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http(s):// URL")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _local_stack_defaults(self) -> "Settings":
        """After `make up`, other commands in the checkout log in to what it started.

        When the graph is the embedded FalkorDB that `make up` started from `home` (same
        loopback port), the settings it handed to its worker and app (the generated graph
        and admin password files, the local Airflow's URL and password file) apply here
        too: per group, and only when no setting of that group is set.
        """
        parsed = urlparse(self.graph_uri)
        if not parsed.scheme.startswith("falkor") or parsed.hostname not in LOOPBACK:
            return self
        handed = local_stack_settings(self.home, parsed.port or 6380)
        for group in LOCAL_STACK_GROUPS:
            if handed and not self.model_fields_set.intersection(group):
                for name in set(group) & handed.keys():
                    value = handed[name]
                    setattr(self, name, Path(value) if name.endswith("_file") else value)
        return self

    @model_validator(mode="after")
    def _secrets_from_files(self) -> "Settings":
        if self.airflow_password is None and self.airflow_password_file:
            self.airflow_password = SecretStr(
                read_password_file(self.airflow_password_file, self.airflow_username))
        if self.graph_password is None and self.graph_password_file:
            self.graph_password = SecretStr(read_password_file(self.graph_password_file, None))
        for secret in ("slack_webhook_url", "slack_bot_token", "admin_password", "oidc_client_secret",
                       "oidc_cookie_secret"):
            path = getattr(self, f"{secret}_file")
            if getattr(self, secret) is None and path:
                setattr(self, secret, SecretStr(read_password_file(path, None)))
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> "Settings":
        secret = self.oidc_client_secret.get_secret_value() if self.oidc_client_secret else ""
        if self.oidc_issuer and not (self.oidc_client_id and secret):
            raise ValueError("ORCAI_OIDC_ISSUER needs ORCAI_OIDC_CLIENT_ID and ORCAI_OIDC_CLIENT_SECRET(_FILE)")
        return self

    @property
    def oidc_enabled(self) -> bool:
        """Sign-in through the identity provider (else local mode: loopback, admin password)."""
        return bool(self.oidc_issuer)

    @property
    def protected_dag_globs(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.protected_dags.split(",") if g.strip())

    @property
    def protected_pool_globs(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.protected_pools.split(",") if g.strip())

    @property
    def deadline_rules(self) -> tuple[tuple[str, str], ...]:
        return deadline_rules(self.deadlines)

    @property
    def dag_shard(self) -> Shard:
        return Shard.parse(self.shard)

    @property
    def airflow_links_url(self) -> str:
        return self.airflow_ui_url or self.airflow_url


def read_password_file(path: Path, username: str | None) -> str:
    """A password from a secrets file: plain text, or Airflow's `{"admin": "..."}` JSON."""
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read password file {path}: {exc.strerror}") from None
    if text.startswith("{") and username:
        try:
            return json.loads(text)[username]
        except (ValueError, KeyError):
            raise ValueError(f"{path} is JSON but has no password for user {username!r}") from None
    return text


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"ORCAI_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
