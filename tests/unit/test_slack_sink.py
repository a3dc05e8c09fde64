"""The tests' Slack stand-in answers slack_sdk the way Slack does, so other tests can trust it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError


def test_webhook_posts_are_recorded_with_their_blocks(slack_sink):
    response = WebhookClient(slack_sink.webhook_url()).send(
        text="etl_orders failed", blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*etl_orders*"}}])

    assert response.status_code == 200 and response.body == "ok"
    [message] = slack_sink.received
    assert message.body["blocks"][0]["text"]["text"] == "*etl_orders*"
    assert "etl_orders failed" in message.text


def test_web_api_checks_the_bot_token(slack_sink):
    good = WebClient(token=slack_sink.token, base_url=slack_sink.api_url)
    assert good.chat_postMessage(channel="#alerts", text="hello")["ok"]
    bad = WebClient(token="xoxb-wrong", base_url=slack_sink.api_url)
    with pytest.raises(SlackApiError, match="invalid_auth"):
        bad.chat_postMessage(channel="#alerts", text="hello")
    assert [m.body["channel"] for m in slack_sink.received] == ["#alerts"]


def test_scripted_rate_limit_carries_retry_after(slack_sink):
    slack_sink.fail_next(1, status=429, retry_after=7)
    response = WebhookClient(slack_sink.webhook_url()).send(text="first")

    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert WebhookClient(slack_sink.webhook_url()).send(text="second").status_code == 200
    assert [m.body["text"] for m in slack_sink.received] == ["second"]
