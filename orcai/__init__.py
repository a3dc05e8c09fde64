"""ORC AI: operations intelligence for Apache Airflow."""

__version__ = "0.1.0"
