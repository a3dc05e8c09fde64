"""The duration chart both the Runs and the Anomalies page draw: runs over time inside the
expected band, flagged runs marked with their reason on hover."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

BAND_FILL = "rgba(26,115,232,0.15)"
# A band whose top is this many times the longest run shown (a task in the middle of a level
# shift gets a very wide tail) would squash the runs into the axis: the axis then stops at
# AXIS_HEADROOM × the longest run, and the band runs off the top.
BAND_OVERREACH = 4.0
AXIS_HEADROOM = 2.0
LINE_COLOUR = "#1a73e8"
FLAG_COLOUR = "#d93025"


def duration_band_chart(runs: pd.DataFrame, flagged: pd.DataFrame, flag_text: str, *,
                        marker_colours=None, marker_size: int = 4, flag_name: str = "flagged",
                        highlight: pd.DataFrame | None = None) -> go.Figure:
    """`runs` has start_date, duration_s, expected_low, expected_high (and run_id);
    `flagged` is the subset to mark, `flag_text` its column of hover text. `highlight`
    (optional rows) gets a ring: the anomaly the page is about."""
    figure = go.Figure()
    band = runs.dropna(subset=["expected_low", "expected_high"])
    figure.add_trace(go.Scatter(x=band["start_date"], y=band["expected_high"], line={"width": 0},
                                showlegend=False, hoverinfo="skip"))
    figure.add_trace(go.Scatter(x=band["start_date"], y=band["expected_low"], fill="tonexty", line={"width": 0},
                                fillcolor=BAND_FILL, name="expected range"))
    marker = {"size": marker_size} if marker_colours is None else {"size": marker_size, "color": marker_colours}
    figure.add_trace(go.Scatter(x=runs["start_date"], y=runs["duration_s"], mode="lines+markers",
                                name="run duration", line={"color": LINE_COLOUR, "width": 1}, marker=marker,
                                text=runs.get("run_id"), hovertemplate="%{text}<br>%{y:.1f} s<extra></extra>"))
    figure.add_trace(go.Scatter(x=flagged["start_date"], y=flagged["duration_s"], mode="markers", name=flag_name,
                                marker={"color": FLAG_COLOUR, "size": 12, "symbol": "x"},
                                text=flagged[flag_text], hovertemplate="%{text}<extra></extra>"))
    if highlight is not None:
        figure.add_trace(go.Scatter(x=highlight["start_date"], y=highlight["duration_s"], mode="markers",
                                    marker={"color": "rgba(0,0,0,0)", "size": 18,
                                            "line": {"color": "#000000", "width": 2}}, name="this anomaly"))
    figure.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, yaxis_title="duration (s)",
                         legend={"orientation": "h"})
    longest = runs["duration_s"].max() if len(runs) else None
    if longest and len(band) and band["expected_high"].max() > BAND_OVERREACH * longest:
        figure.update_yaxes(range=[0, AXIS_HEADROOM * longest])
    return figure
