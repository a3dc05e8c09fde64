"""The same sidebar on every page: graph, Airflow (as the worker sees it), last sync,
auto-refresh and the admin login state."""

from __future__ import annotations

import streamlit as st

from orcai.errors import ConfigError, GraphError
from orcai.graph import describe_uri
from orcai.worker_health import airflow_state
from ui.auth import account_box, admin_logged_in, current_person
from ui.cache import current_worker_health
from ui.connection import settings
from ui.format import absolute_time, relative_time

REFRESH_S = 30  # auto-refresh checks for a new sync this often


def render_sidebar(page_has_login: bool = False) -> None:
    """The app's sidebar; `page_has_login`: the page shows the admin login itself, so the
    sidebar does not repeat its state."""
    with st.sidebar:
        st.markdown("### ORC AI")
        try:
            config = settings()
        except ConfigError as exc:
            st.error(str(exc), icon=":material/settings:")
            return
        if config.oidc_enabled:
            account_box(current_person())
        try:
            health = current_worker_health()
        except GraphError:
            st.error(f"Graph: unreachable ({describe_uri(config.graph_uri)}). Check `ORCAI_GRAPH_URI`.",
                     icon=":material/cloud_off:")
            return
        st.caption(f":material/hub: Graph: connected ({describe_uri(config.graph_uri)})")
        st.caption(f":material/{'link' if health.status == 'ok' else 'link_off'}: Airflow: "
                   f"{airflow_state(health)} ({config.airflow_url})",
                   help="As the worker last saw it: the app reads the graph; it calls Airflow only "
                        "for a manual action (undo), through orcai.policy.actions.")
        icon = {"ok": ":material/check_circle:", "stale": ":material/schedule:",
                "error": ":material/error:", "missing": ":material/help:"}[health.status]
        st.caption(f"{icon} Worker: {health.message}", help=f"Last sync: {absolute_time(health.last_sync_at)}")
        if st.toggle("Auto-refresh", key="orcai_auto_refresh",
                     help=f"Checks every {REFRESH_S} s and redraws the page when the worker has synced."):
            _refresh_on_new_sync(health.last_sync_at)
        if config.oidc_enabled or page_has_login:
            return  # sign-in mode: the account box is at the top; else the page's login says it
        if admin_logged_in():
            st.caption(":material/admin_panel_settings: Admin: logged in (local mode)")
        else:
            st.caption(":material/lock: Admin: not logged in (read-only, local mode)" if config.admin_password
                       else ":material/lock: Read-only: set `ORCAI_ADMIN_PASSWORD` to allow changes")


@st.fragment(run_every=REFRESH_S)
def _refresh_on_new_sync(shown_sync_at: int | None) -> None:
    """Reruns the whole page when the worker has synced since the page was drawn."""
    try:
        latest = current_worker_health().last_sync_at
    except GraphError:
        return
    st.caption(f"Last sync {relative_time(latest)}", help=absolute_time(latest))
    if latest != shown_sync_at:
        st.rerun(scope="app")
