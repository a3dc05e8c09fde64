"""One incident's Slack message in Chromium, as the channel shows it: the real incident and
alert stages play the cascade of tests/integration/test_incident_slack.py with a bot token
against the Slack-compatible sink, and the sink draws what it received (tests/slack_render.py:
our drawing of the Block Kit ORC AI sent, not Slack's). Screenshots go to test-artifacts/:
slack-incident.png once the incident grew (one post, edited in place twice) and
slack-incident-resolved.png after it resolved (edited again, the notice in its thread);
docs/images/ holds copies."""

from __future__ import annotations

from tests.e2e.conftest import screenshot
from tests.integration.incident_graph import load_estate
from tests.integration.test_incident_slack import cycles, settings_for


def test_an_incident_message_edited_in_place_then_resolved_in_its_thread(graph, graph_uri, slack_sink, page):
    load_estate(graph)
    played = cycles(graph, settings_for(graph_uri, slack_sink, bot=True), with_incidents=True)
    for _ in range(3):  # opened, then grew twice
        next(played)
    page.set_viewport_size({"width": 900, "height": 400})  # the message, not an empty channel
    page.goto(slack_sink.url + "/")
    channel = page.locator("body > .message")
    channel.first.wait_for(timeout=30_000)
    assert channel.count() == 1 and page.locator(".thread").count() == 0  # one message, edited as it grew
    text = channel.inner_text()
    assert "(edited)" in text and "Probable root cause: task ingest.load" in text and "What it hits" in text
    assert "transform" in text and "report" in text  # the DAGs it hit, grown into the same message
    assert channel.locator("b").count() and channel.locator("a").count()  # mrkdwn drawn, not shown raw
    assert "*" not in channel.locator(".section").first.inner_text()
    assert screenshot(page, "slack-incident").exists()

    next(played)  # recovered
    next(played)  # stayed resolved the re-open window: the resolved notice goes out
    page.reload()
    channel.first.wait_for(timeout=30_000)
    thread = page.locator(".thread .message")
    assert channel.count() == 1 and thread.count() == 1
    assert "Resolved: task ingest.load" in channel.inner_text() and "Resolved" in thread.inner_text()
    assert screenshot(page, "slack-incident-resolved").exists()
