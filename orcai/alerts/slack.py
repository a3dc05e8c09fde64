"""The one module that talks to Slack: post a rendered message, or raise a classified SlackError.

Built from settings, like an Airflow provider hook: an incoming webhook
(`ORCAI_SLACK_WEBHOOK_URL`) or a bot token and channel (`chat.postMessage`); the slack_sdk
client is created lazily, on the first send. Retries are slack_sdk's own handlers with
small bounded counts, so one send never holds the worker for long: a short Retry-After is
waited out in place, a long one becomes `SlackError(retry_after_s=…)` and the caller keeps
the alert pending until then.

The webhook URL and the token are secrets: they never appear in a log line or an
exception message (slack_sdk's own logger, which prints request URLs, is silenced).
"""

from __future__ import annotations

import logging
import socket
from functools import cached_property
from urllib.error import URLError

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler,
)

from orcai.config import Settings
from orcai.errors import SlackError

log = logging.getLogger(__name__)

# slack_sdk logs request URLs (the webhook URL is a secret) and logs each failure that it
# then raises; ORC AI logs one line of its own per failure instead. The SDK gets a logger
# made here, outside the logging tree and silent: nobody's logging configuration changes.
_SDK_LOG = logging.Logger("orcai.alerts.slack_sdk", logging.CRITICAL + 1)

IN_PLACE_RETRIES = 1  # per failure type, inside one send
MAX_IN_PLACE_WAIT_S = 3.0  # a longer Retry-After is not waited out: the alert waits in the outbox
AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
               "invalid_token", "no_service", "no_team", "team_disabled", "missing_scope",
               "not_in_channel", "channel_not_found", "channel_is_archived", "action_prohibited"}


class ShortRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but only for a Retry-After short enough to wait in place."""

    def __init__(self, max_retry_count: int, max_wait_s: float):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_s = max_wait_s

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        retry_after = retry_after_seconds({k: v[0] if isinstance(v, list) else v
                                           for k, v in response.headers.items()})
        return retry_after is None or retry_after <= self.max_wait_s


def retry_handlers() -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(max_retry_count=IN_PLACE_RETRIES),
            ServerErrorRetryHandler(max_retry_count=IN_PLACE_RETRIES),
            ShortRateLimitRetryHandler(IN_PLACE_RETRIES, MAX_IN_PLACE_WAIT_S)]


def retry_after_seconds(headers: dict) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return None
    return None


def classify_status(status: int, error: str, headers: dict, setting: str) -> SlackError:
    """An HTTP status and Slack error code → the SlackError saying what to do."""
    if status == 429 or error == "ratelimited":
        retry_after = retry_after_seconds(headers)
        wait = f", retry after {retry_after:g} s" if retry_after is not None else ""
        return SlackError("rate_limited", f"Slack rate-limited the message (HTTP 429{wait})", retry_after)
    if status >= 500:
        return SlackError("server_error", f"Slack answered HTTP {status} (server error)")
    if error in AUTH_ERRORS or status in (401, 403, 404, 410):
        return SlackError("auth", f"Slack refused the credentials or channel ({error or f'HTTP {status}'}): "
                                  f"check {setting}")
    return SlackError("rejected", f"Slack rejected the message ({error or f'HTTP {status}'})")


def _network_error(exc: BaseException, timeout_s: float) -> SlackError:
    reason = exc.reason if isinstance(exc, URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return SlackError("network", f"cannot reach Slack: no answer within {timeout_s:g} s")
    # Only the error's type and errno-style text: never the request URL.
    detail = getattr(reason, "strerror", None) or type(reason).__name__
    return SlackError("network", f"cannot reach Slack: {detail}")


class SlackSender:
    """Posts rendered messages ({"text", "blocks"}) to one Slack destination."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.uses_webhook = settings.slack_webhook_url is not None
        # Where messages go, safe to store and show (never the webhook URL).
        self.channel = "webhook" if self.uses_webhook else str(settings.slack_channel)

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackSender | None:
        """A sender when Slack is configured, None when it is not (alerts stay off)."""
        if settings.slack_webhook_url is not None or (settings.slack_bot_token is not None and settings.slack_channel):
            return cls(settings)
        return None

    @cached_property
    def _webhook(self) -> WebhookClient:
        return WebhookClient(self.settings.slack_webhook_url.get_secret_value(),
                             timeout=self.settings.slack_timeout_s, logger=_SDK_LOG,
                             retry_handlers=retry_handlers())

    @cached_property
    def _web(self) -> WebClient:
        return WebClient(token=self.settings.slack_bot_token.get_secret_value(),
                         base_url=self.settings.slack_api_url + "/", timeout=self.settings.slack_timeout_s,
                         logger=_SDK_LOG, retry_handlers=retry_handlers())

    @property
    def can_update(self) -> bool:
        """A bot token can edit a message in place (chat.update) and reply in its thread; a webhook cannot."""
        return not self.uses_webhook

    def post(self, rendered: dict, thread_ts: str | None = None) -> str | None:
        """Deliver one message; returns its Slack ts (bot token; None for a webhook). Raises
        SlackError (never containing a secret) when it was not delivered."""
        return self._deliver(lambda: self._post_webhook(rendered) if self.uses_webhook
                             else self._post_web(rendered, thread_ts))

    def update(self, ts: str, rendered: dict) -> None:
        """Edit a message posted earlier (bot token only: chat.update)."""
        self._deliver(lambda: self._web_call(self._web.chat_update, channel=self.settings.slack_channel, ts=ts,
                                             text=rendered["text"], blocks=rendered.get("blocks")))

    def _deliver(self, send):
        try:
            return send()
        except SlackError:
            raise
        except (URLError, OSError) as exc:  # refused, DNS, timeout (socket.timeout is an OSError)
            raise _network_error(exc, self.settings.slack_timeout_s) from None

    def _post_webhook(self, rendered: dict) -> None:
        response = self._webhook.send(text=rendered["text"], blocks=rendered.get("blocks"))
        if response.status_code != 200:
            raise classify_status(response.status_code, (response.body or "").strip()[:60],
                                  response.headers, "ORCAI_SLACK_WEBHOOK_URL")

    def _post_web(self, rendered: dict, thread_ts: str | None = None) -> str | None:
        response = self._web_call(self._web.chat_postMessage, channel=self.settings.slack_channel,
                                  text=rendered["text"], blocks=rendered.get("blocks"), thread_ts=thread_ts)
        return response.get("ts") if hasattr(response, "get") else None

    def _web_call(self, method, **kwargs):
        try:
            return method(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            error = response.data.get("error", "") if isinstance(response.data, dict) else ""
            raise classify_status(response.status_code, error, response.headers,
                                  "ORCAI_SLACK_BOT_TOKEN and ORCAI_SLACK_CHANNEL") from None
