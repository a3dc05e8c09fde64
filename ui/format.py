"""How the pages write states, ids and times."""

from __future__ import annotations

import re
import time

from orcai.worker_health import ago
from ui.connection import now_ms

# Airflow's own state colours, so operators read them the same way in both UIs.
STATE_COLOURS = {"success": "#1e8e3e", "failed": "#d93025", "running": "#1a73e8",
                 "queued": "#8d8d8d", "upstream_failed": "#f57c00", "up_for_retry": "#daa520",
                 "up_for_reschedule": "#40e0d0", "skipped": "#ff69b4", "scheduled": "#d2b48c",
                 "deferred": "#9370db", "restarting": "#ee82ee", "removed": "#b0b0b0"}

# Markdown, Streamlit's :colour[...]/:emoji: directives and $LaTeX$ all read these.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_text(value) -> str:
    """Text from Airflow or the graph (ids, reasons), escaped so Markdown shows it literally:
    a DAG id such as `**x** [y](javascript:...)` is shown as written, never as a link."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(value))


# A DAG run's state as a coloured mark: a plain column, where a styled one costs Streamlit
# about 0.3 ms a row (1.4 s for the Status table at 5,000 DAGs).
STATE_MARKS = {"success": "🟢", "failed": "🔴", "running": "🔵", "queued": "⚪"}


def state_mark(state) -> str:
    return STATE_MARKS.get(state, "")


def state_style(state) -> str:
    """A dataframe cell style colouring a run state like Airflow does."""
    colour = STATE_COLOURS.get(state)
    return f"color: {colour}; font-weight: 600" if colour else ""


def state_cell_style(state) -> str:
    """A filled grid cell in the state's colour (readable on light and dark themes)."""
    colour = STATE_COLOURS.get(state)
    return f"background-color: {colour}; color: #ffffff" if colour else ""


def relative_time(ms: int | None, now: int | None = None) -> str:
    """"3 min ago" / "in 2 h" for an epoch-ms time; "never" for None."""
    if ms is None:
        return "never"
    seconds = ((now or now_ms()) - ms) / 1000
    words = ago(abs(seconds))
    return words if seconds >= 0 else "in " + words.removesuffix(" ago")


def absolute_time(ms: int | None) -> str:
    return "—" if ms is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000))
