"""Slack messages as data, and their Block Kit rendering: pure functions, no I/O.

Alerts from the outbox become neutral `Message`s (a headline, items, links) grouped by
kind, so one cycle's many anomalies make one message, capped with "and N more". Only
`to_block_kit` knows Slack's format; it escapes every piece of user-controlled text (DAG
ids, reasons, policy names) so that `&`, `<` and `>` cannot forge links or mentions.
Saved examples of each rendered kind live in docs/slack/ and are checked by the tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

from orcai.alerts.outbox import AlertRequest
from orcai.airflow.links import airflow_dag_url, airflow_run_url, airflow_task_url

MAX_ITEMS = 10  # items listed in one message; the rest are counted ("and N more")
MAX_DETAIL_CHARS = 1_200  # a section's text may not exceed 3,000 characters
MAX_HEADER_CHARS = 150  # Slack's limit for a header block

SEVERITY_EMOJI = {"high": ":red_circle:", "medium": ":large_orange_circle:", "low": ":white_circle:"}
ACTION_VERBS = {"pause": ("Paused", "Would pause", "Could not pause"),
                "unpause": ("Unpaused", "Would unpause", "Could not unpause"),
                "mark_critical": ("Marked critical", "Would mark critical", "Could not mark critical"),
                "alert": ("Alert", "Alert (dry run)", "Could not alert"),
                "pause_tag": ("Paused", "Would pause", "Could not pause"),
                "unpause_tag": ("Unpaused", "Would unpause", "Could not unpause"),
                "set_pool_slots": ("Throttled", "Would throttle", "Could not throttle"),
                "restore_pool_slots": ("Released", "Would release", "Could not release"),
                "clear_stuck": ("Cleared the stuck task of", "Would clear the stuck task of",
                                "Could not clear the stuck task of"),
                "fail_zombie_run": ("Marked the stuck run failed in", "Would mark the stuck run failed in",
                                    "Could not mark the stuck run failed in")}
OUTCOME_INDEX = {"done": 0, "would_do": 1, "failed": 2}


@dataclass(frozen=True)
class Links:
    """Where a reader goes next: ORC AI's pages and the Airflow UI (base URLs, no trailing /)."""
    app_url: str
    airflow_url: str

    def orcai_page(self, page: str, **params: str | None) -> str:
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{self.app_url}/{page}" + (f"?{query}" if query else "")

    def airflow(self, dag_id: str | None, run_id: str | None = None, task_id: str | None = None,
                map_index: int | None = None) -> str | None:
        """Airflow 3's UI paths: /dags/{dag}/runs/{run}/tasks/{task}[/mapped/{i}] (orcai.airflow.links builds them)."""
        if not dag_id:
            return None
        if not run_id:
            return airflow_dag_url(self.airflow_url, dag_id)
        if not task_id:
            return airflow_run_url(self.airflow_url, dag_id, run_id)
        return airflow_task_url(self.airflow_url, dag_id, run_id, task_id, map_index)


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Item:
    """One thing a message reports. All text is raw: `to_block_kit` escapes it."""
    title: str
    detail: str = ""
    facts: tuple[str, ...] = ()  # short lines under the detail ("policy nightly v3 · dry run")
    links: tuple[Link, ...] = ()
    emoji: str = ""


@dataclass(frozen=True)
class Message:
    """A Slack message as data: which alerts it delivers and what it says."""
    kind: str
    headline: str
    items: tuple[Item, ...]
    keys: tuple[str, ...]  # the outbox alerts this message delivers
    more: int = 0  # items left out of the list
    more_link: Link | None = None
    incident_key: str | None = None  # an incident's messages: one per incident, edited in place


# --- alerts → messages ---------------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _where(payload: dict) -> str:
    dag, task = payload.get("dag_id") or "?", payload.get("task_id")
    return f"{dag}.{task}" if task else dag


def _capped(kind: str, headline: str, alerts: Sequence[AlertRequest], item_of, more_link: Link | None) -> Message:
    shown = alerts[:MAX_ITEMS]
    return Message(kind, headline, tuple(item_of(a.payload) for a in shown), tuple(a.key for a in alerts),
                   more=len(alerts) - len(shown), more_link=more_link)


def anomaly_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """New anomalies, most severe first: what, where, why, and where to look."""
    rank = {"high": 0, "medium": 1, "low": 2}
    ordered = sorted(alerts, key=lambda a: (rank.get(a.payload.get("severity"), 3),
                                            -float(a.payload.get("score") or 0), a.key))
    dags = sorted({a.payload.get("dag_id") for a in alerts if a.payload.get("dag_id")})
    where = f" in {dags[0]}" if len(dags) == 1 else f" across {len(dags)} DAGs" if dags else ""

    def item(p: dict) -> Item:
        severity = p.get("severity") or "unknown"
        run = p.get("run_id")
        return Item(
            title=f"{p.get('kind', 'anomaly')} · {_where(p)}",
            detail=p.get("reason") or "",
            facts=(f"severity {severity}" + (f" · run {run}" if run else ""),)
            + ((f"What it hits: {p['hits']}",) if p.get("hits") else ()),
            links=_present(Link("Open in ORC AI", links.orcai_page("anomalies", dag_id=p.get("dag_id"))),
                           _link("Open in Airflow", links.airflow(p.get("dag_id"), run, p.get("task_id"), p.get("map_index")))),
            emoji=SEVERITY_EMOJI.get(severity, ":grey_question:"))

    count = "1 new anomaly" if len(alerts) == 1 else f"{len(alerts)} new anomalies"
    return _capped("anomaly", count + where, ordered, item,
                   Link("See every open anomaly in ORC AI", links.orcai_page("anomalies")))


def resolved_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """Anomalies that were announced and are now closed, so the channel knows they are handled."""
    def item(p: dict) -> Item:
        return Item(title=f"{p.get('kind', 'anomaly')} · {_where(p)}", detail=p.get("resolved_reason") or "closed",
                    links=(Link("Open in ORC AI", links.orcai_page("anomalies", dag_id=p.get("dag_id"))),),
                    emoji=":white_check_mark:")

    headline = "1 anomaly closed" if len(alerts) == 1 else f"{len(alerts)} anomalies closed"
    return _capped("anomaly_resolved", headline, alerts, item, Link("Open ORC AI", links.orcai_page("anomalies")))


def policy_action_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """What a policy did (or would do in dry run), why, and how to undo it."""
    def item(p: dict) -> Item:
        verbs = ACTION_VERBS.get(p.get("action"), (p.get("action") or "acted on",) * 3)
        verb = verbs[OUTCOME_INDEX.get(p.get("outcome"), 0)]
        mode = "dry run: nothing was changed" if p.get("mode") == "dry_run" else "enforced"
        facts = [f"policy {p.get('policy')} v{p.get('version')} · {mode}"]
        if p.get("by"):
            facts = [f"manual action by {p['by']} · pause by policy {p.get('policy')} v{p.get('version')}"]
        if p.get("text"):
            facts.append(str(p["text"]))
        if p.get("undo"):
            facts.append(f"To undo: {p['undo']}")
        emoji = {"done": ":robot_face:", "would_do": ":test_tube:", "failed": ":warning:"}.get(p.get("outcome"), "")
        return Item(title=f"{verb} {p.get('dag_id') or p.get('target') or ''}".strip(), detail=p.get("reason") or "",
                    facts=tuple(facts), emoji=emoji,
                    links=_present(Link("Policy in ORC AI", links.orcai_page("policies", name=p.get("policy"))),
                                   _link("DAG in Airflow", links.airflow(p.get("dag_id")))))

    single = {"done": "A policy acted", "would_do": "A policy would act (dry run)",
              "failed": "A policy could not act"}.get(alerts[0].payload.get("outcome"), "A policy acted")
    if alerts[0].payload.get("by"):
        single = f"{alerts[0].payload['by']} acted by hand"
    headline = single if len(alerts) == 1 else f"{len(alerts)} policy actions"
    return _capped("policy_action", headline, alerts, item, Link("Open the policies", links.orcai_page("policies")))


def policy_disabled_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """A policy that kept failing was switched off: say which and why."""
    def item(p: dict) -> Item:
        return Item(title=f"Policy {p.get('policy')} v{p.get('version')} was disabled",
                    detail=p.get("error") or "", facts=("Fix it and enable it again in ORC AI.",),
                    links=(Link("Open the policy", links.orcai_page("policies", name=p.get("policy"))),),
                    emoji=":no_entry:")

    headline = "A policy was disabled" if len(alerts) == 1 else f"{len(alerts)} policies were disabled"
    return _capped("policy_disabled", headline, alerts, item, Link("Open the policies", links.orcai_page("policies")))


def digest_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """DAG failures not yet reported, one line per failed run, newest first."""
    failures = sorted((f for a in alerts for f in a.payload.get("failures", [])),
                      key=lambda f: -(f.get("end_date") or 0))
    dags = sorted({f.get("dag_id") for f in failures if f.get("dag_id")})

    def item(f: dict) -> Item:
        tasks = f.get("failed_tasks") or []
        when = _utc(f.get("end_date"))
        return Item(title=f.get("dag_id") or "?",
                    detail=f"run {f.get('run_id')} failed" + (f" at {when}" if when else "")
                    + (f"; failed tasks: {', '.join(map(str, tasks))}" if tasks else ""),
                    links=_present(_link("Open in Airflow", links.airflow(f.get("dag_id"), f.get("run_id"))),
                                   Link("Status in ORC AI", links.orcai_page("status"))),
                    emoji=":x:")

    shown = failures[:MAX_ITEMS]
    return Message("digest", f"DAG failures: {_plural(len(failures), 'failed run')} in {_plural(len(dags), 'DAG')}",
                   tuple(item(f) for f in shown), tuple(a.key for a in alerts), more=len(failures) - len(shown),
                   more_link=Link("Open the Status page", links.orcai_page("status")))


ROOT_NAMES = {"task": "task", "asset": "asset", "pool": "pool", "external_system": "external system",
              "dag": "DAG", "airflow": "Airflow itself"}


def _root(p: dict) -> str:
    kind = p.get("root_kind") or "?"
    return ROOT_NAMES.get(kind, kind) if kind == "airflow" else f"{ROOT_NAMES.get(kind, kind)} {p.get('root_key')}"


def _blast_item(p: dict, links: Links) -> Item:
    dags, assets = list(p.get("blast_dags") or []), list(p.get("blast_assets") or [])
    hit = set(p.get("dags_hit") or [])
    at_risk = [d for d in dags if d not in hit]
    detail = (f"Hit: {', '.join(sorted(hit)) or 'none yet'}."
              + (f" Downstream, critical first: {', '.join(at_risk)}." if at_risk else "")
              + (f" Assets: {', '.join(assets)}." if assets else ""))
    return Item(title=f"What it hits: {_plural(len(set(dags) | hit), 'DAG')}", detail=detail, emoji=":dart:")


def incident_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    """One incident (the newest state of it): its root cause with the evidence, and its blast radius."""
    alert = alerts[-1]
    p = alert.payload
    evidence = list(p.get("evidence") or [])
    dag = p.get("root_dag") or p.get("first_dag_id")
    root = Item(title=f"Probable root cause: {_root(p)}", detail=evidence[0] if evidence else "",
                facts=tuple(evidence[1:]) + (f"{_plural(int(p.get('size') or 0), 'symptom')} grouped since "
                                             f"{_utc(p.get('opened_at'))}",),
                links=_present(Link("Open the incident in ORC AI", links.orcai_page("incidents", key=p.get("incident_key"))),
                               _link("Open in Airflow", links.airflow(dag))),
                emoji=":rotating_light:")
    headline = f"Incident: {_root(p)} — {_plural(len(p.get('dags_hit') or []), 'DAG')} hit"
    return Message(alert.kind, headline, (root, _blast_item(p, links)), tuple(a.key for a in alerts),
                   incident_key=p.get("incident_key"))


def incident_resolved_message(alerts: Sequence[AlertRequest], links: Links) -> Message:
    alert = alerts[-1]
    p = alert.payload
    minutes = max(0, int(((p.get("resolved_at") or 0) - (p.get("opened_at") or 0)) / 60_000))
    item = Item(title=f"Resolved: {_root(p)}", emoji=":white_check_mark:",
                detail=f"The root and every symptom recovered after {minutes} min "
                       f"({_plural(int(p.get('size') or 0), 'symptom')} in {_plural(len(p.get('dags_hit') or []), 'DAG')})."
                       + (f" It came back {_plural(int(p['reopened']), 'time')} after it seemed to recover."
                          if p.get("reopened") else ""),
                links=(Link("Open the incident in ORC AI", links.orcai_page("incidents", key=p.get("incident_key"))),))
    return Message(alert.kind, f"Resolved: {_root(p)}", (item,), tuple(a.key for a in alerts),
                   incident_key=p.get("incident_key"))


def _link(label: str, url: str | None) -> Link | None:
    return Link(label, url) if url else None


def _present(*links: Link | None) -> tuple[Link, ...]:
    return tuple(link for link in links if link)


def _utc(epoch_ms) -> str:
    if not isinstance(epoch_ms, (int, float)):
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


BUILDERS = {"anomaly": anomaly_message, "anomaly_resolved": resolved_message,
            "policy_action": policy_action_message, "policy_disabled": policy_disabled_message,
            "digest": digest_message, "incident": incident_message, "incident_update": incident_message,
            "incident_resolved": incident_resolved_message}
# Most urgent first: under the rate limit, what is sent first matters.
KIND_ORDER = ("policy_disabled", "incident", "incident_update", "policy_action", "anomaly", "digest",
              "incident_resolved", "anomaly_resolved")
PER_INCIDENT = ("incident", "incident_update", "incident_resolved")


def group_messages(alerts: Sequence[AlertRequest], links: Links) -> list[Message]:
    """Pending alerts → as few messages as sensible: one per kind, most urgent first; an
    incident's alerts make one message per incident (its updates: the newest one)."""
    messages = []
    for kind in KIND_ORDER:
        of_kind = [a for a in alerts if a.kind == kind]
        if not of_kind:
            continue
        if kind not in PER_INCIDENT:
            messages.append(BUILDERS[kind](of_kind, links))
            continue
        by_incident: dict[str, list[AlertRequest]] = {}
        for alert in sorted(of_kind, key=lambda a: (a.created_at, a.key)):
            by_incident.setdefault(alert.payload.get("incident_key") or alert.key, []).append(alert)
        messages += [BUILDERS[kind](group, links) for group in by_incident.values()]
    return messages


# --- messages → Block Kit ------------------------------------------------------------------

def escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped as Slack asks (&, <, >)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link_mrkdwn(link: Link) -> str:
    # A URL inside <…|…> must not contain '|' or '>': the builders percent-encode user parts.
    url = link.url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{url}|{escape(link.label)}>"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _item_text(item: Item) -> str:
    lines = [f"{item.emoji + ' ' if item.emoji else ''}*{escape(_truncate(item.title, 200))}*"]
    if item.detail:
        lines.append(escape(_truncate(item.detail, MAX_DETAIL_CHARS)))
    lines.extend(f"_{escape(_truncate(fact, 300))}_" for fact in item.facts)
    if item.links:
        lines.append(" · ".join(_link_mrkdwn(link) for link in item.links))
    return "\n".join(lines)


def fallback_text(message: Message) -> str:
    """The notification text (shown where blocks are not): headline and the first titles."""
    titles = "; ".join(item.title for item in message.items[:3])
    extra = len(message.items) - 3 + message.more
    more = f" and {extra} more" if extra > 0 else ""
    return escape(f"ORC AI: {message.headline}" + (f" — {titles}{more}" if titles else ""))


def to_block_kit(message: Message) -> dict:
    """A Message → Slack's `{"text", "blocks"}` payload (at most 1 + 2×10 + 1 blocks, under Slack's 50)."""
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                      "text": _truncate(message.headline, MAX_HEADER_CHARS)}}]
    for index, item in enumerate(message.items):
        if index:
            blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _item_text(item)}})
    if message.more:
        tail = f"…and {message.more} more."
        if message.more_link:
            tail += f" {_link_mrkdwn(message.more_link)}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": tail}]})
    return {"text": fallback_text(message), "blocks": blocks}
