"""An incident's life across cycles: it opens, grows as new symptoms join, and resolves when
none of its symptoms is active any more (its root and its victims recovered). Pure.

This cycle's drafts are matched to the open incidents: first by the same root, then by a
shared symptom (the root was refined as more evidence arrived). A draft nothing open matches
may re-open an incident that resolved within `REOPEN_WINDOW_MS` (a flap, below); otherwise it
opens a new incident, keyed by its root and when it began, so re-running a cycle opens
nothing twice (numbered past a resolved incident with that key: `numbered_key`).

A flap: a late success resolves an incident, and a cycle later the condition is back (a
scheduler fallen behind misses runs again). The draft that brings it back re-opens the
incident under its old key when it has the same root or shares a symptom, and its
condition began before the incident was called resolved (`Draft.began_at`: its first
symptom, or the start of the run a missing or late run was found on, which the detector
reports only once that run came): that recovery was a moment's.
A fault that begins after the resolution is a new incident, however soon it comes and
whatever its root (the same pool starved twice in a row is two faults): time alone cannot
tell a flap from the next fault on the same root, which may come seconds later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orcai.incidents.grouping import Draft
from orcai.model import MINUTE_MS

# How long a resolved incident may still be re-opened by its condition coming back, and so how
# long its resolved notice waits (orcai.incidents.stage): a flap sends nothing. Five minutes
# is five cycles of the default 60-s sync, and Alertmanager's default resolve_timeout.
REOPEN_WINDOW_MS = 5 * MINUTE_MS


@dataclass
class Change:
    key: str
    draft: Draft
    opened_at: int
    new: bool  # opened this cycle
    grew: bool  # symptoms joined since the last cycle
    symptom_keys: list[str] = field(default_factory=list)
    reopened: int = 0  # how many times it came back after it resolved, counting this cycle's (0: never)
    reopened_now: bool = False  # it had resolved, and came back this cycle
    # The whole incident, not only this cycle's draft: the DAGs its symptoms are in, and for a
    # re-opened one its earlier evidence first (what it was, then what brought it back)
    dags_hit: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.symptom_keys)

    @property
    def summary(self) -> str:
        return self.draft.summary_of(self.size, len(self.dags_hit))


def incident_key(draft: Draft) -> str:
    return f"{draft.root_kind}:{draft.root_key}@{draft.opened_at}"


def numbered_key(key: str, n: int) -> str:
    """The `n`-th incident whose natural key is `key` (n >= 2): the same symptoms may come back
    after their incident resolved for good (a recovering run cleared in Airflow), and that is
    a new incident, announced and resolved on its own, never the old one re-opened by its key."""
    return key if n <= 1 else f"{key}#{n}"


def settled(incident: dict, now_ms: int) -> bool:
    """Whether a resolved incident has stayed resolved the whole re-open window: nothing
    re-opens it any more, and its resolved notice is due. Before that, a flap may."""
    return now_ms - incident["resolved_at"] >= REOPEN_WINDOW_MS


def flapped(incident: dict, draft: Draft, now_ms: int) -> bool:
    """Whether `draft` is the resolved `incident` coming back: not settled yet, and the
    condition the draft is about began before it resolved."""
    return not settled(incident, now_ms) and draft.began_at <= incident["resolved_at"]


def _match(draft: Draft, incidents: list[dict], matched: set) -> dict | None:
    """The incident of the same root, else the first one sharing a symptom, not matched yet."""
    for incident in incidents:
        if (incident["root_kind"], incident["root_key"]) == (draft.root_kind, draft.root_key) \
                and incident["key"] not in matched:
            return incident
    keys = {s.key for s in draft.symptoms}
    return next((i for i in incidents if i["key"] not in matched and keys & set(i.get("symptoms") or [])), None)


def reconcile(open_incidents: list[dict], drafts: list[Draft], *, resolved_recently: Sequence[dict] = (),
              now_ms: int | None = None) -> tuple[list[Change], list[str]]:
    """open incidents ({key, root_kind, root_key, opened_at, dags_hit, symptoms: [keys]}) + this cycle's
    drafts → the incidents to write (new, carried on or re-opened) and the keys of those that
    resolved. `resolved_recently`: incidents resolved lately (the same fields, resolved_at,
    reopened and evidence), which a draft of a flap re-opens, judged at `now_ms` (required
    with them); the latest resolved first, when two of the same root could be."""
    if resolved_recently and now_ms is None:
        raise ValueError("reconcile: resolved_recently needs now_ms")
    latest_first = sorted(resolved_recently, key=lambda i: i["resolved_at"], reverse=True)
    changes, matched = [], set()
    for draft in drafts:
        keys = [s.key for s in draft.symptoms]
        found = _match(draft, open_incidents, matched)
        back = None
        if found is None:
            back = _match(draft, [i for i in latest_first if flapped(i, draft, now_ms)], matched)
            found = back
        if found is None:
            changes.append(Change(incident_key(draft), draft, draft.opened_at, new=True, grew=False,
                                  symptom_keys=sorted(set(keys)), dags_hit=draft.dags_hit,
                                  evidence=list(draft.evidence)))
            continue
        matched.add(found["key"])
        before = set(found.get("symptoms") or [])
        earlier = list(found.get("evidence") or []) if back is not None else []
        changes.append(Change(found["key"], draft, min(found["opened_at"], draft.opened_at), new=False,
                              grew=bool(set(keys) - before), symptom_keys=sorted(set(keys) | before),
                              reopened=int(found.get("reopened") or 0) + (back is not None),
                              reopened_now=back is not None,
                              dags_hit=sorted(set(draft.dags_hit) | set(found.get("dags_hit") or [])),
                              evidence=earlier + [e for e in draft.evidence if e not in earlier]))
    resolved = [i["key"] for i in open_incidents if i["key"] not in matched]
    return changes, resolved
