"""What the Streamlit pages share, and the only code that knows about Streamlit besides
the pages: connections, cached reads, formatting, widgets, charts, the sidebar, login.

    connection  settings and the graph (one each per process), the graph-down banner
    cache       page reads, cached per last sync: a new sync shows at once
    format      Airflow's state colours, Markdown escaping, times in words
    navigation  links and buttons between pages
    charts      the duration chart with its expected band (Runs and Anomalies)
    auth        the admin login every write checks
    sidebar     the sidebar every page shows
"""
