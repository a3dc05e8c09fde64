"""An incident's life across cycles: it opens, grows as new symptoms join, and resolves when
none of its symptoms is active any more (its root and its victims recovered). Pure.

This cycle's drafts are matched to the open incidents: first by the same root, then by a
shared symptom (the root was refined as more evidence arrived). A draft nothing matches
opens a new incident, keyed by its root and when it began, so re-running a cycle opens
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orcai.incidents.grouping import Draft


@dataclass
class Change:
    key: str
    draft: Draft
    opened_at: int
    new: bool  # opened this cycle
    grew: bool  # symptoms joined since the last cycle
    symptom_keys: list[str] = field(default_factory=list)


def incident_key(draft: Draft) -> str:
    return f"{draft.root_kind}:{draft.root_key}@{draft.opened_at}"


def reconcile(open_incidents: list[dict], drafts: list[Draft]) -> tuple[list[Change], list[str]]:
    """open incidents ({key, root_kind, root_key, opened_at, symptoms: [keys]}) + this cycle's
    drafts → the incidents to write (new or carried on) and the keys of those that resolved."""
    by_root = {(i["root_kind"], i["root_key"]): i for i in open_incidents}
    by_symptom = {s: i for i in open_incidents for s in i.get("symptoms") or []}
    changes, matched = [], set()
    for draft in drafts:
        keys = [s.key for s in draft.symptoms]
        found = by_root.get((draft.root_kind, draft.root_key))
        if found is None or found["key"] in matched:
            found = next((by_symptom[k] for k in keys if k in by_symptom and by_symptom[k]["key"] not in matched), None)
        if found is None:
            changes.append(Change(incident_key(draft), draft, draft.opened_at, new=True, grew=False, symptom_keys=keys))
            continue
        matched.add(found["key"])
        grew = bool(set(keys) - set(found.get("symptoms") or []))
        changes.append(Change(found["key"], draft, min(found["opened_at"], draft.opened_at), new=False,
                              grew=grew, symptom_keys=sorted(set(keys) | set(found.get("symptoms") or []))))
    resolved = [i["key"] for i in open_incidents if i["key"] not in matched]
    return changes, resolved
