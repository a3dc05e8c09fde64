"""Policies: write, validate, backtest, enable and audit the rules that act on DAGs."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from orcai.errors import GraphError, OrcaiError, PermissionDenied, PolicyInvalid
from orcai.graph import policy_store as store
from orcai.model import DAY_MS
from orcai.policy import changes
from orcai.policy.actions import is_undoable, undo_for
from orcai.policy.backtest import backtest, resource_history_for
from orcai.policy.conditions import MAX_COMPREHENSION_DEPTH, validate
from orcai.policy.editor import form_values, policy_data
from orcai.policy.facts import facts_reference
from orcai.policy.model import ACTION_TYPES, dump_policies_yaml, parse_policy
from orcai.policy.resources import resource_reference
from ui.auth import current_person, denied_hint, login_widget
from ui.connection import graph, graph_error_banner, now_ms, settings_or_stop
from ui.format import md_text

NEW = "(new policy)"
PAGE = "Policies"  # where a write came from, for the audit
BACKTEST_DAYS = 30


def person_write(label: str, write) -> None:
    """The one path every write takes: `write(person)` calls orcai, which checks the person's
    role and records who, when and from this page; errors shown, page refreshed."""
    try:
        write(current_person())
    except PermissionDenied as exc:
        st.error(f"{label}: {denied_hint(exc)}", icon=":material/lock:")
        return
    except PolicyInvalid as exc:
        st.error(f"{label}: " + "; ".join(exc.problems))
        return
    except OrcaiError as exc:
        st.error(f"{label} failed: {exc}")
        return
    st.session_state["flash"] = f"{label}: done."
    st.rerun()


def ms_to_time(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="float"), unit="ms", utc=True)


def policies_tab(policies, fired) -> None:
    if not policies:
        st.info("No policies yet. Write one in the Editor tab, or let the worker install the defaults "
                "from `stack/policies/`.")
        return
    table = pd.DataFrame([{"name": p.name, "enabled": p.enabled, "mode": p.mode,
                           "last fired": fired.get(p.name), "condition": p.condition,
                           "actions": ", ".join(a.type for a in p.actions), "version": p.version,
                           "by": p.author, "problem": p.disabled_reason} for p in policies])
    table["last fired"] = ms_to_time(table["last fired"])
    st.dataframe(table, hide_index=True, width="stretch", key="policy-table",
                 column_config={"last fired": st.column_config.DatetimeColumn(format="distance")})
    for policy in (p for p in policies if p.disabled_reason and not p.enabled):
        st.warning(f"**{md_text(policy.name)}** was disabled automatically: {md_text(policy.disabled_reason)}")
    chosen = st.selectbox("Policy", [p.name for p in policies], key="manage-policy")
    policy = next(p for p in policies if p.name == chosen)
    now = now_ms()
    left, middle, right = st.columns(3)
    if left.button("Disable" if policy.enabled else "Enable", key="toggle-enabled"):
        person_write(f"{'Disable' if policy.enabled else 'Enable'} {chosen}", lambda person: changes.set_enabled(
            graph(), person, chosen, not policy.enabled, now, PAGE))
    target = "dry_run" if policy.enforced else "enforce"
    if middle.button(f"Switch to {target}", key="switch-mode"):
        person_write(f"Switch {chosen} to {target}", lambda person: changes.switch_mode(
            graph(), person, chosen, target, now, PAGE))
    sure = right.checkbox("I am sure", key="confirm-delete")
    if right.button("Delete", key="delete-policy", disabled=not sure):
        person_write(f"Delete {chosen}", lambda person: changes.delete(graph(), person, chosen, now, PAGE))
    with st.expander("Version history"):
        history = pd.DataFrame(store.policy_history(graph(), chosen))
        if not history.empty:
            history["at"] = ms_to_time(history["at"])
            st.dataframe(history, hide_index=True, width="stretch")
    st.download_button("Export all as YAML", dump_policies_yaml(policies), "orcai-policies.yaml",
                       mime="application/yaml", key="export-yaml")
    upload = st.file_uploader("Import YAML", type=["yaml", "yml"], key="import-yaml")
    if upload is not None and st.button("Import", key="import-button"):
        person_write("Import", lambda person: changes.import_yaml(graph(), person, upload.getvalue(), now, PAGE))


def editor_tab(policies) -> None:
    names = [p.name for p in policies]
    chosen = st.selectbox("Edit", [NEW] + names, key="edit-choice")
    current = next((p for p in policies if p.name == chosen), None)
    values = form_values(current)
    suffix = chosen  # widget keys per policy, so switching prefills the fields again
    left, right = st.columns([1, 1])
    with left:
        name = st.text_input("Name", values["name"], key=f"name-{suffix}", disabled=current is not None)
        description = st.text_input("Description", values["description"], key=f"description-{suffix}")
        condition = st.text_area("Condition (CEL)", values["condition"], height=120, key=f"condition-{suffix}",
                                 help="Checked as you type (on leaving the field or Ctrl+Enter).")
        errors = validate(condition)
        for error in errors:
            st.error(str(error), icon=":material/error:")
        if not errors:
            st.success("Condition is valid.", icon=":material/check:")
        scope = st.columns(3)
        dags = scope[0].text_input("DAG ids (globs)", values["dags"], key=f"dags-{suffix}", placeholder="all")
        tags = scope[1].text_input("Tags (any)", values["tags"], key=f"tags-{suffix}", placeholder="any")
        owners = scope[2].text_input("Owners (any)", values["owners"], key=f"owners-{suffix}", placeholder="any")
        actions = st.multiselect("Actions", ACTION_TYPES, values["actions"], key=f"actions-{suffix}")
        message = st.text_input("Slack message of the alert action", values["message"], key=f"message-{suffix}",
                                placeholder="{dag.id} failed {dag.consecutive_failures} times in a row")
        target = st.columns(3)
        pool = target[0].text_input("Pool (set_pool_slots)", values["pool"], key=f"pool-{suffix}")
        slots = target[1].number_input("Slots while it holds", 0, 100_000, values["slots"], key=f"slots-{suffix}")
        tag = target[2].text_input("Tag (pause_tag / unpause_tag)", values["tag"], key=f"tag-{suffix}")
        row = st.columns(3)
        mode = row[0].radio("Mode", ["dry_run", "enforce"], index=["dry_run", "enforce"].index(values["mode"]),
                            key=f"mode-{suffix}", horizontal=True)
        cooldown = row[1].number_input("Cooldown (min)", 0, 10_080, values["cooldown_min"], key=f"cooldown-{suffix}")
        enabled = row[2].checkbox("Enabled", values["enabled"], key=f"enabled-{suffix}")
    with right:
        st.markdown("**Facts a condition can use**")
        st.dataframe(pd.DataFrame(facts_reference()), hide_index=True, width="stretch", height=420,
                     key="facts-reference", column_config={
                         "fact": st.column_config.TextColumn(width="medium"),
                         "type": st.column_config.TextColumn(width="small"),
                         "meaning": st.column_config.TextColumn(width="large")})
        st.caption("CEL: `&&`, `||`, `!`, `in`, `startsWith()`, `matches()`, `size()`, "
                   "`exists(x, …)`. Example: `dag.consecutive_failures >= 2 && 'etl' in dag.tags`.")
        resources = resource_reference(config.resources_file)
        if resources:
            st.markdown("**Resource facts** (from Prometheus, `resource.<name>`)")
            st.dataframe(pd.DataFrame(resources), hide_index=True, width="stretch", key="resource-reference")
        st.caption(f"Comprehensions (`all`, `exists`, `map`, …) nest at most {MAX_COMPREHENSION_DEPTH} deep; "
                   f"each evaluation is stopped after {config.policy_eval_budget_s:g} s.")
    data = policy_data({"name": name, "description": description, "condition": condition, "dags": dags,
                        "tags": tags, "owners": owners, "actions": actions, "message": message, "mode": mode,
                        "cooldown_min": cooldown, "enabled": enabled, "pool": pool, "slots": slots, "tag": tag})
    buttons = st.columns(2)
    if buttons[0].button(f"Backtest on last {BACKTEST_DAYS} days", key="backtest", disabled=bool(errors)):
        run_backtest(data)
    if buttons[1].button("Save", key="save-policy", type="primary"):
        expected = current.version if current else None
        person_write(f"Save {name or 'policy'}", lambda person: changes.save(
            graph(), person, data, now_ms(), expected, PAGE))
    show_backtest()


def run_backtest(data: dict) -> None:
    try:
        policy = parse_policy({**data, "name": data["name"] or "unsaved"})
    except PolicyInvalid as exc:
        st.error("Cannot backtest: " + "; ".join(exc.problems))
        return
    now = now_ms()
    since = now - BACKTEST_DAYS * DAY_MS
    with st.spinner("Replaying stored history..."):
        history = resource_history_for(config, policy.condition, since, now)
        inputs = ([], [], {}) if policy.per_cycle else store.backtest_inputs(graph(), since)
        result = backtest(policy, *inputs, since, history)
    st.session_state["backtest_result"] = (policy.condition, result)


def show_backtest() -> None:
    if "backtest_result" not in st.session_state:
        return
    condition, result = st.session_state["backtest_result"]
    st.subheader("Backtest: last 30 days")
    if result.error:
        st.error(f"The condition fails on real history {result.error}: live, it would be disabled.")
    for note in result.notes:
        st.warning(note, icon=":material/history:")
    if result.unjudged:
        st.warning(f"{result.unjudged} point(s) not judged: a resource fact had no history there.")
    cols = st.columns(3)
    cols[0].metric("Would have fired", len(result.firings))
    cols[1].metric("DAGs in scope", result.dags_checked)
    cols[2].metric("Runs (or resource points) replayed", result.runs_checked)
    st.caption(f"Condition `{condition}`, cooldown applied; DAGs assumed unpaused at the start.")
    if not result.firings:
        st.info("It would not have fired on any stored run.")
        return
    firings = pd.DataFrame([{"at": f.at, "dag_id": f.dag_id or "(once per cycle)", "run_id": f.run_id, "actions": ", ".join(f.actions),
                             "reason": f.reason} for f in result.firings])
    firings["at"] = ms_to_time(firings["at"])
    per_day = firings.assign(day=firings["at"].dt.floor("D")).groupby(["day", "dag_id"]).size().unstack(fill_value=0)
    st.bar_chart(per_day, height=220)
    st.dataframe(firings, hide_index=True, width="stretch", key="backtest-firings",
                 column_config={"reason": st.column_config.TextColumn(width="large")})


def action_log_tab() -> None:
    rows = [r["action"] for r in store.action_log(graph(), now_ms() - BACKTEST_DAYS * DAY_MS)]
    if not rows:
        st.info("No actions yet. Each firing of a policy (done, would-be in dry run, skipped, failed) is listed here.")
        return
    log = pd.DataFrame(rows)
    for column in ("by", "page", "last_error", "undone_by", "pool"):
        if column not in log:
            log[column] = None
    filters = st.columns(4)
    chosen = {column: filters[i].multiselect(label, sorted(log[column].dropna().unique()), key=f"log-{column}")
              for i, (column, label) in enumerate([("policy", "Policy"), ("dag_id", "DAG"),
                                                    ("status", "Status"), ("kind", "Action")])}
    for column, values in chosen.items():
        if values:
            log = log[log[column].isin(values)]
    shown = log.assign(at=ms_to_time(log["at"]))
    st.dataframe(shown, hide_index=True, width="stretch", key="action-log",
                 column_order=["at", "policy", "dag_id", "pool", "kind", "status", "by", "page", "mode", "reason",
                               "last_error", "undone_by", "facts"],
                 column_config={"reason": st.column_config.TextColumn(width="large"),
                                "at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")})
    undoable = log[[is_undoable(row) for row in log.to_dict("records")]]
    if undoable.empty:
        return
    labels = {row.key: (f"pool {row.pool} — throttled by {row.policy}" if row.kind == "set_pool_slots"
                        else f"{row.dag_id} — paused by {row.policy}") for row in undoable.itertuples()}
    key = st.selectbox("Undo a pause or a throttle", list(labels), format_func=labels.get, key="undo-choice")
    with st.expander("Facts it saw"):
        st.json(json.loads(undoable.set_index("key").loc[key, "facts"]))
    if st.button("Undo (unpause, or restore the pool's slots, in Airflow)", key="undo-pause"):
        def undo(person):
            outcome, error = undo_for(config, graph(), key, person, now_ms(), PAGE)
            if outcome == "failed":
                raise OrcaiError(error)
        person_write(f"Undo ({labels[key]})", undo)


config = settings_or_stop()
st.title("Policies")
login_widget()
if "flash" in st.session_state:
    st.success(st.session_state.pop("flash"), icon=":material/check:")
try:
    all_policies = store.load_policies(graph())
    last_fired = store.last_fired(graph())
    manage, edit, audit = st.tabs(["Policies", "Editor", "Action log"])
    with manage:
        policies_tab(all_policies, last_fired)
    with edit:
        editor_tab(all_policies)
    with audit:
        action_log_tab()
except GraphError as exc:
    graph_error_banner(exc)
