"""A webhook receiver for the notification tests: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Webhook:
    """An HTTP server on 127.0.0.1 (a thread of the test) that records JSON POSTs; while
    `hang` is set it takes each request and never answers."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[bytes] = []
        self.hang = threading.Event()
        self.closing = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.raw.append(body)
                if hook.hang.is_set():
                    hook.closing.wait(60)
                    return
                hook.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def events(self, path: str | None = None) -> list[tuple[str | None, str]]:
        return [(body["app"], body["event"]) for where, body in self.received
                if path is None or where == path]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
