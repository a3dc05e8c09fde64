"""Settings and the graph, one of each per app process, and the banner when they fail."""

from __future__ import annotations

import time

import streamlit as st

from orcai.config import Settings, load_settings
from orcai.errors import ConfigError, GraphError
from orcai.graph import Graph, connect, describe_uri


def now_ms() -> int:
    return int(time.time() * 1000)


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def graph() -> Graph:
    return connect(settings())


def settings_or_stop() -> Settings:
    """The settings, or the page stops: misconfigured, or (sign-in mode) nobody signed in."""
    try:
        config = settings()
    except ConfigError as exc:
        st.error(f"ORC AI is misconfigured. {exc}", icon=":material/settings:")
        st.stop()
    if config.oidc_enabled:
        from ui.auth import sign_in_gate  # ui.auth reads the settings from here
        sign_in_gate()
    return config


def graph_error_banner(exc: GraphError) -> None:
    st.error(
        f"**The knowledge graph is unreachable.** {exc}. "
        f"Check that the graph server is running and that `ORCAI_GRAPH_URI` "
        f"(now `{describe_uri(settings().graph_uri)}`) points at it.",
        icon=":material/cloud_off:",
    )
