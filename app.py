"""ORC AI's Streamlit app: `streamlit run app.py`. Registers every page once."""

import streamlit as st

from ui.auth import needs_sign_in, sign_in_page
from ui.sidebar import render_sidebar

st.set_page_config(page_title="ORC AI", page_icon=":material/hub:", layout="wide")
if needs_sign_in():  # sign-in mode, nobody signed in who counts: the sign-in page is the only page
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:")], position="hidden").run()
    st.stop()

navigation = st.navigation([
    st.Page("pages/status.py", title="Status", icon=":material/monitor_heart:", default=True),
    st.Page("pages/runs.py", title="Runs", icon=":material/view_timeline:"),
    st.Page("pages/lineage.py", title="Lineage", icon=":material/account_tree:"),
    st.Page("pages/anomalies.py", title="Anomalies", icon=":material/troubleshoot:"),
    st.Page("pages/policies.py", title="Policies", icon=":material/policy:"),
])
render_sidebar()
navigation.run()
