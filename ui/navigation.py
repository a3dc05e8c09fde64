"""Links and buttons from one page to another, carrying the DAG in the query string."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

PAGE_FILES = {"runs": "app_pages/runs.py", "lineage": "app_pages/lineage.py", "incidents": "app_pages/incidents.py"}
_LABELS = {"runs": ("Runs", ":material/view_timeline:"), "lineage": ("Lineage", ":material/account_tree:"),
           "incidents": ("Incidents", ":material/emergency:")}


def page_url(page: str, **params: str) -> str:
    """A relative link to another page of the app with its query parameters."""
    return f"{page}?{urlencode(params)}" if params else page


def open_dag_buttons(dag_id: str, pages: tuple[str, ...], columns) -> None:
    """Buttons that open another page on this DAG, in the same tab (query param `dag`)."""
    for column, page in zip(columns, pages):
        label, icon = _LABELS[page]
        if column.button(label, icon=icon, key=f"open-{page}", help=f"{label} of {dag_id}"):
            st.switch_page(PAGE_FILES[page], query_params={"dag": dag_id})
