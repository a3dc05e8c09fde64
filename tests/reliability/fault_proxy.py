"""A fault-injecting HTTP proxy in front of the real Airflow, on 127.0.0.1.

Requests pass through to Airflow unchanged until a fault is scripted:

    proxy.inject("status", path="/dagRuns", times=3, status=429, retry_after=5)
    proxy.inject("malformed", path="/taskInstances")      # 200 with invalid JSON
    proxy.inject("truncated", path="/dags")                # the real body, cut in half
    proxy.inject("slow", seconds=30)                       # beyond the client's timeout
    proxy.inject("refuse", after=4)                        # the API goes away after 4 requests

A fault with `times=None` lasts until `clear()`. Every request is counted, so a test can
say "the sync stopped hammering Airflow after the first refusals".
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


@dataclass
class Fault:
    kind: str  # status | malformed | truncated | slow | refuse
    path: str = ""  # applies to request paths containing this
    times: int | None = None  # None: until cleared
    after: int = 0  # let this many matching requests through first
    status: int = 500
    retry_after: int | None = None
    seconds: float = 0.0
    seen: int = 0


class FaultProxy:
    def __init__(self, upstream: str):
        parsed = urlparse(upstream)
        self._upstream = (parsed.hostname, parsed.port or 80)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                proxy._handle(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

            def log_message(self, *args):
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def inject(self, kind: str, path: str = "", times: int | None = None, **options) -> Fault:
        """Script a fault; its `seen` counts the requests it matched."""
        fault = Fault(kind, path, times, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            self.requests += 1
            for fault in self._faults:
                if fault.path not in path or (fault.times is not None and fault.times <= 0):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    return None
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        fault = self._fault_for(request.path)
        if fault and fault.kind == "refuse":
            request.close_connection = True  # no answer at all, like a server that went away
            request.connection.shutdown(2)
            return
        if fault and fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return _reply(request, fault.status, b'{"detail": "injected fault"}', headers)
        if fault and fault.kind == "malformed":
            return _reply(request, 200, b'{"dags": [{"dag_id": ', {})
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        status, headers, payload = self._forward(request, body)
        if fault and fault.kind == "truncated":
            payload = payload[: len(payload) // 2]
        _reply(request, status, payload, headers)

    def _forward(self, request, body: bytes) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=60)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(request.command, request.path, body=body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
        connection.close()
        return response.status, kept, payload


def _reply(request, status: int, payload: bytes, headers: dict) -> None:
    try:
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): fine
        pass
