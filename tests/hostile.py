"""Strings that break naive code: quoting, injection-looking text, markup, odd unicode, length."""

from orcai.airflow.records import identifier
from orcai.errors import AirflowResponseError

HOSTILE_STRINGS = (
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n RETURN 1 //',
    "<script>alert('orcai')</script>",
    "**bold** [click](javascript:alert(1)) `code` <b>html</b>",
    "back\\slash \\' \\\" \\n",
    "line\nbreak\ttab",
    "ünïcødé ✓ 数据管道 مرحبا 🚀",
    "\u202eright-to-left override",
    "x" * 5000,
    "$param {braces} %s {0}",
)


def valid_identifier(text: str) -> bool:
    """Whether the REST mapping accepts `text` as an id (it refuses what the graph cannot index)."""
    try:
        return identifier(text, "id") == text
    except AirflowResponseError:
        return False
