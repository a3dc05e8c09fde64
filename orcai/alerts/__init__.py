"""Alerts: what ORC AI tells people (Slack), kept in the graph so nothing is lost or sent twice."""
