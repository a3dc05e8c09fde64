"""ORC AI's Streamlit app: `streamlit run app.py`. Registers every page once."""

import streamlit as st

from ui.sidebar import render_sidebar

st.set_page_config(page_title="ORC AI", page_icon=":material/hub:", layout="wide")

navigation = st.navigation([
    st.Page("app_pages/status.py", title="Status", icon=":material/monitor_heart:", default=True),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/view_timeline:"),
    st.Page("app_pages/lineage.py", title="Lineage", icon=":material/account_tree:"),
    st.Page("app_pages/incidents.py", title="Incidents", icon=":material/emergency:"),
    st.Page("app_pages/anomalies.py", title="Anomalies", icon=":material/troubleshoot:"),
    st.Page("app_pages/policies.py", title="Policies", icon=":material/policy:"),
])
render_sidebar()
navigation.run()
