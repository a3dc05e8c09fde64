"""The admin login: every write in the app asks `is_admin()` first.

The password is ORCAI_ADMIN_PASSWORD (or its _FILE), else `ORCAI_ADMIN_PASSWORD` in
Streamlit secrets. Without one, nobody can log in and the app is read-only. Failed logins
are rate-limited across all sessions (orcai.auth.LoginLimiter).
"""

from __future__ import annotations

import streamlit as st
from pydantic import SecretStr

from orcai.auth import LoginLimiter, admin_configured
from orcai.config import Settings
from ui.connection import settings

SESSION_KEY = "orcai_admin"


@st.cache_resource(show_spinner=False)
def login_limiter() -> LoginLimiter:
    return LoginLimiter()


def admin_logged_in() -> bool:
    """Whether an admin has logged in this session (the sidebar shows it)."""
    return st.session_state.get(SESSION_KEY) is True


def admin_settings() -> Settings:
    """Settings whose admin password may also come from Streamlit secrets."""
    config = settings()
    if admin_configured(config):
        return config
    try:
        secret = st.secrets.get("ORCAI_ADMIN_PASSWORD")
    except Exception:  # no secrets.toml: Streamlit raises its own not-found error
        secret = None
    return config.model_copy(update={"admin_password": SecretStr(secret)}) if secret else config


def is_admin() -> bool:
    return st.session_state.get(SESSION_KEY) is True and admin_configured(admin_settings())


def login_widget() -> bool:
    """Log in / log out in the sidebar; returns whether this session may write."""
    config = admin_settings()
    with st.sidebar:
        if not admin_configured(config):
            st.caption(":material/lock: Read-only: set `ORCAI_ADMIN_PASSWORD` to allow changes.")
            return False
        if is_admin():
            st.caption(":material/admin_panel_settings: Logged in as admin.")
            if st.button("Log out", key="admin-logout"):
                st.session_state[SESSION_KEY] = False
                st.rerun()
            return True
        with st.form("admin-login"):
            password = st.text_input("Admin password", type="password", key="admin-password")
            submitted = st.form_submit_button("Log in")
        if submitted:
            limiter = login_limiter()
            wait_s = limiter.wait_s()
            if wait_s > 0:
                st.error(f"Too many failed logins: try again in {wait_s:.0f} s.")
            elif limiter.attempt(config, password):
                st.session_state[SESSION_KEY] = True
                st.rerun()
            else:
                st.error("Wrong password.")
        st.caption("Without login this page is read-only.")
    return False
