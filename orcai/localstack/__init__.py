"""Starting ORC AI's local services without Docker: FalkorDB and Airflow standalone.

Used by `make up` (orcai.localstack.up) and by the test fixtures, so both start the
services the same way. Every service runs in its own process group so that stopping it
also stops its children (airflow standalone forks a scheduler, api-server, workers...).
"""
