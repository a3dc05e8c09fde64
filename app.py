"""ORC AI's Streamlit app: `streamlit run app.py`. Registers every page once."""

import streamlit as st

from ui.auth import needs_sign_in, sign_in_page
from ui.sidebar import render_sidebar

st.set_page_config(page_title="ORC AI", page_icon=":material/hub:", layout="wide")
PAGES = [("status", "Status", ":material/monitor_heart:"), ("runs", "Runs", ":material/view_timeline:"),
         ("lineage", "Lineage", ":material/account_tree:"), ("incidents", "Incidents", ":material/emergency:"),
         ("anomalies", "Anomalies", ":material/troubleshoot:"), ("policies", "Policies", ":material/policy:")]
LOGIN_PAGES = {"anomalies", "policies"}  # pages that act, with their own admin login (ui.auth.login_widget)

if needs_sign_in():  # sign-in mode, nobody signed in who counts: every address shows the sign-in page
    st.navigation([st.Page(sign_in_page, title="Sign in", url_path=name, default=name == "status")
                   for name, _, _ in PAGES], position="hidden").run()
    st.stop()

navigation = st.navigation([st.Page(f"app_pages/{name}.py", title=title, icon=icon, default=name == "status")
                            for name, title, icon in PAGES])
render_sidebar(page_has_login=navigation.url_path in LOGIN_PAGES)
navigation.run()
