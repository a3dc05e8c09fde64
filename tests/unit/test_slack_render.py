"""The test sink's drawing of Block Kit (tests/slack_render.py), on ORC AI's own messages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.slack_render import channel_html, mrkdwn
from tests.slack_sink import Received

DOCS = Path(__file__).resolve().parents[2] / "docs" / "slack"


def test_mrkdwn_styles_links_and_emoji_but_not_underscores_inside_names():
    text = ":rotating_light: *Root: a.b*\n_2 went wrong: orders_mart (run)_ · <https://x.example/i?a=1&amp;b=2|Open> `x<y`"
    drawn = mrkdwn(text)
    assert drawn.startswith('<span class="emoji" title=":rotating_light:"')
    assert "<b>Root: a.b</b><br><i>2 went wrong: orders_mart (run)</i>" in drawn
    assert '<a href="https://x.example/i?a=1&amp;b=2">Open</a>' in drawn and "<code>x&lt;y</code>" in drawn


def test_the_channel_shows_a_post_in_its_last_edit_with_its_thread_reply():
    opened, resolved = (json.loads((DOCS / f"{name}.json").read_text()) for name in ("incident", "incident_resolved"))
    received = [Received("/api/chat.postMessage", {}, opened, ts="1.000001"),
                Received("/api/chat.update", {}, {**resolved, "ts": "1.000001"}, ts="1.000001"),
                Received("/api/chat.postMessage", {}, {**resolved, "thread_ts": "1.000001"}, ts="2.000001")]
    page = channel_html(received)
    assert page.count('class="message"') == 2 and page.count('class="thread"') == 1
    assert "(edited)" in page and "not by Slack" in page
    assert opened["blocks"][0]["text"]["text"] not in page.split('class="thread"')[0].split("</style>")[1]
