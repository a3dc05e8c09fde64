"""Where external systems come from: asset URIs and well-known operator types. Pure."""

from __future__ import annotations

from urllib.parse import urlparse

from orcai.model import ExternalSystemRecord

# URI schemes that name a storage or service kind (Airflow's asset URI conventions).
_SCHEME_KINDS = {
    "postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mssql": "mssql",
    "sqlite": "sqlite", "s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "abfs": "azure-blob",
    "wasb": "azure-blob", "az": "azure-blob", "file": "file", "http": "http", "https": "http",
    "bigquery": "bigquery", "snowflake": "snowflake", "redshift": "redshift", "trino": "trino",
    "kafka": "kafka", "hdfs": "hdfs", "hive": "hive", "mongodb": "mongodb", "ftp": "ftp",
    "sftp": "sftp", "databricks": "databricks", "duckdb": "duckdb",
}

# Operator class name fragments -> the system the task talks to.
_OPERATOR_KINDS = (
    ("Postgres", "postgres"), ("MySql", "mysql"), ("Mssql", "mssql"), ("Sqlite", "sqlite"),
    ("S3", "s3"), ("GCS", "gcs"), ("BigQuery", "bigquery"), ("Snowflake", "snowflake"),
    ("Redshift", "redshift"), ("Databricks", "databricks"), ("Slack", "slack"), ("Email", "smtp"),
    ("Http", "http"), ("Kafka", "kafka"), ("Trino", "trino"), ("Docker", "docker"),
    ("KubernetesPod", "kubernetes"), ("SFTP", "sftp"), ("SSH", "ssh"),
)


def system_for_uri(uri: str) -> ExternalSystemRecord | None:
    """`postgres://warehouse/public/orders` -> ExternalSystem postgres://warehouse (postgres)."""
    parsed = urlparse(uri)
    kind = _SCHEME_KINDS.get(parsed.scheme.lower())
    if kind is None:
        return None
    where = parsed.netloc.split("@")[-1] if parsed.netloc else ""  # never keep credentials
    name = f"{parsed.scheme.lower()}://{where}" if where else kind
    return ExternalSystemRecord(name=name, kind=kind)


def system_for_operator(operator: str | None) -> ExternalSystemRecord | None:
    """`PostgresOperator`, `S3CreateObjectOperator`, `SlackAPIPostOperator` -> that system."""
    if not operator:
        return None
    for fragment, kind in _OPERATOR_KINDS:
        if fragment.lower() in operator.lower():
            return ExternalSystemRecord(name=kind, kind=kind)
    return None
