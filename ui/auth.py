"""Who is using the app: the sign-in gate, `current_person()`, and the sidebar's account box.

Two modes, chosen by the settings (orcai.config `oidc_enabled`):

- **Sign-in mode** (`ORCAI_OIDC_ISSUER` set): `sign_in_gate()` (app.py, before any page)
  shows only the sign-in page until a person has signed in at the identity provider
  (`st.login`); the person and their role come from `st.user` through
  `orcai.oidc.person_from_claims`, which refuses another issuer, an expired session and a
  person in no mapped group.
- **Local mode**: as before: read-only for anyone (a viewer), admin after the admin
  password (ORCAI_ADMIN_PASSWORD or its _FILE, else `ORCAI_ADMIN_PASSWORD` in Streamlit
  secrets). Failed logins are limited per client address/session (orcai.auth.LoginLimiter).

Hiding or disabling a button is a courtesy: the orcai write functions check the role again.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import streamlit as st
from pydantic import SecretStr

from orcai.access import LOCAL_ADMIN, LOCAL_VIEWER, Person
from orcai.auth import LoginLimiter, admin_configured
from orcai.config import Settings
from orcai.errors import ConfigError, SignInRefused
from orcai.oidc import person_from_claims
from ui.connection import settings

SESSION_KEY = "orcai_admin"


@st.cache_resource(show_spinner=False)
def login_limiter() -> LoginLimiter:
    return LoginLimiter()


def oidc_mode() -> bool:
    try:
        return settings().oidc_enabled
    except ConfigError:
        return False


def signed_in_person() -> Person:
    """The person signed in at the identity provider; SignInRefused when there is none that counts."""
    return person_from_claims(st.user.to_dict(), settings(), time.time())


def current_person() -> Person | None:
    """Who is acting now: the signed-in person, or in local mode the admin or a viewer."""
    if oidc_mode():
        try:
            return signed_in_person()
        except SignInRefused:
            return None
    return LOCAL_ADMIN if is_admin() else LOCAL_VIEWER


def may(permission: str) -> bool:
    person = current_person()
    return person is not None and person.may(permission)


def denied_hint(exc: Exception) -> str:
    """A refused write's message, with what to do about it in local mode."""
    return f"{exc}; log in as admin first (sidebar)" if not oidc_mode() else f"{exc}; ask an admin for the role"


def needs_sign_in() -> bool:
    """Sign-in mode and nobody signed in who counts (app.py then serves only the sign-in page)."""
    return oidc_mode() and current_person() is None


def sign_in_gate() -> None:
    """In sign-in mode, stop the page until a person who counts has signed in. Every page
    calls it (through ui.connection.settings_or_stop), so a request straight to a page
    script cannot skip app.py's gate."""
    if needs_sign_in():
        sign_in_page()
        st.stop()


def sign_in_page() -> None:
    """The only page an unsigned visitor sees: why, and the button to the identity provider."""
    try:
        signed_in_person()
        return
    except SignInRefused as refused:
        problem = None if refused.reason == "claims" else refused
    provider = urlparse(settings().oidc_issuer).hostname
    st.title("ORC AI")
    st.subheader("Sign in")
    st.write("ORC AI shows the state of your Airflow pipelines and can pause them: sign in with "
             f"your team account at **{provider}** to continue.")
    if problem is not None:
        st.error(str(problem), icon=":material/block:")
    if st.button("Sign in", type="primary", key="oidc-sign-in", icon=":material/login:"):
        st.login()
    if problem is not None and st.button("Sign out", key="oidc-sign-out-refused"):
        st.logout()


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


def admin_logged_in() -> bool:
    """Whether an admin has logged in with the local password this session."""
    return st.session_state.get(SESSION_KEY) is True


def is_admin() -> bool:
    return admin_logged_in() and admin_configured(admin_settings())


def client_id() -> str:
    """The client a failed login counts against: its address, else its browser session."""
    address = st.context.ip_address
    if address:
        return f"ip:{address}"
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx else 'unknown'}"


def login_widget() -> Person | None:
    """Who acts on this page; in local mode with the admin login in the sidebar (in sign-in
    mode the shared sidebar shows the person and the sign-out button: `account_box`)."""
    if not oidc_mode():
        local_admin_login()
    return current_person()


def account_box(person: Person | None) -> None:
    """Sign-in mode's account line and sign-out button (inside the sidebar)."""
    if person is None:
        st.caption(":material/lock: Not signed in")
        return
    st.caption(f":material/account_circle: Signed in as **{person.name}** ({person.role})")
    if st.button("Sign out", key="oidc-sign-out"):
        st.logout()


def local_admin_login() -> None:
    config = admin_settings()
    with st.sidebar:
        if not admin_configured(config):
            st.caption(":material/lock: Read-only: set `ORCAI_ADMIN_PASSWORD` to allow changes.")
            return
        if is_admin():
            st.caption(":material/admin_panel_settings: Logged in as admin.")
            if st.button("Log out", key="admin-logout"):
                st.session_state[SESSION_KEY] = False
                st.rerun()
            return
        with st.form("admin-login"):
            password = st.text_input("Admin password", type="password", key="admin-password")
            submitted = st.form_submit_button("Log in")
        if submitted:
            limiter, client = login_limiter(), client_id()
            wait_s = limiter.wait_s(client)
            if wait_s > 0:
                st.error(f"Too many failed logins: try again in {wait_s:.0f} s.")
            elif limiter.attempt(client, config, password):
                st.session_state[SESSION_KEY] = True
                st.rerun()
            else:
                st.error("Wrong password.")
        st.caption("Without login this page is read-only.")
