"""A Slack-compatible HTTP sink on 127.0.0.1: the real Slack is outside this network.

It answers the two ways anything posts to Slack:
- incoming webhooks (any path that is not under /api/): body `ok`, as Slack does;
  Alertmanager's `slack_configs` and slack_sdk's WebhookClient both use these;
- the Web API (`/api/chat.postMessage` and friends): JSON `{"ok": true, ...}`, with the
  bot token checked like Slack does (`invalid_auth` otherwise).

Every request is recorded with its parsed body, so tests assert on what was really sent;
`GET /` draws what was received as a channel page (tests/slack_render.py) for a browser.
Faults are scripted: `fail_next(2, status=429, retry_after=1)`, `delay_s = 5`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from tests.slack_render import channel_html


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict
    ts: str | None = None  # the id a Web API post was answered with (what chat.update and threads name)

    @property
    def text(self) -> str:
        """Every text in the message, blocks included, for simple `in` assertions."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    body: str


@dataclass
class SlackSink:
    token: str = "xoxb-orcai-test-token"
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        """Base URL for slack_sdk's WebClient (`base_url`), with its trailing slash."""
        return f"{self.url}/api/"

    def webhook_url(self, name: str = "orcai") -> str:
        return f"{self.url}/services/T000/B000/{name}"

    def start(self) -> SlackSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                try:
                    sink._handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first (a timeout test): nothing left to answer

            def do_GET(self):  # noqa: N802
                page = channel_html(sink.received).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):  # keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self._faults.clear()
        self.delay_s = 0.0

    def fail_next(self, times: int = 1, status: int = 500, retry_after: int | None = None,
                  body: str = "") -> None:
        """The next `times` requests get this answer instead of success (and are not recorded)."""
        with self._lock:
            self._faults.extend(_Fault(status, retry_after, body) for _ in range(times))

    def wait_for(self, predicate=lambda message: True, count: int = 1,
                 timeout_s: float = 30) -> list[Received]:
        """The recorded messages matching `predicate`, once there are `count` of them."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                matching = [m for m in self.received if predicate(m)]
            if len(matching) >= count or time.monotonic() > deadline:
                return matching
            time.sleep(0.1)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length).decode("utf-8", errors="replace")
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return self._reply(request, fault.status, fault.body or "error", headers)
        body = _parse_body(raw, request.headers.get("Content-Type", ""))
        is_api = request.path.startswith("/api/")
        if is_api and request.headers.get("Authorization") != f"Bearer {self.token}" \
                and body.get("token") != self.token:
            return self._reply(request, 200, json.dumps({"ok": False, "error": "invalid_auth"}),
                               content_type="application/json")
        ts = (body.get("ts") if request.path.endswith("chat.update") else None) or f"{time.time():.6f}"
        with self._lock:
            self.received.append(Received(request.path, dict(request.headers), body, ts if is_api else None))
        if is_api:
            answer = {"ok": True, "channel": body.get("channel", "C000"), "ts": ts,
                      "message": {"text": body.get("text", "")}}
            return self._reply(request, 200, json.dumps(answer), content_type="application/json")
        return self._reply(request, 200, "ok")

    @staticmethod
    def _reply(request, status: int, text: str, headers: dict[str, str] | None = None,
               content_type: str = "text/plain") -> None:
        data = text.encode()
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)


def _parse_body(raw: str, content_type: str) -> dict:
    if "application/x-www-form-urlencoded" in content_type:
        fields = {k: v[0] for k, v in parse_qs(raw).items()}
        if "payload" in fields:  # the legacy webhook form encoding
            return json.loads(fields["payload"])
        return fields
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {"unparsed": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
