"""A webhook receiver on 127.0.0.1 for the tests: it records every delivery, answers what the
test scripts (status codes, delays), and checks signatures with the `standardwebhooks`
package, an implementation this project did not write."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    at: float = field(default_factory=time.monotonic)

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    def verifies_with(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


class Receiver:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._script: list[tuple[int, float]] = []  # answers to give, in order
        self.default: tuple[int, float] = (200, 0.0)
        self._changed = threading.Condition()
        self.url = ""

    def answer(self, *statuses: int, delay: float = 0.0) -> None:
        """The next answers, in order; then `default`."""
        with self._changed:
            self._script.extend((status, delay) for status in statuses)

    def _next_answer(self) -> tuple[int, float]:
        with self._changed:
            return self._script.pop(0) if self._script else self.default

    def _record(self, delivery: Delivery) -> None:
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        """The first `count` deliveries, once there are that many."""
        with self._changed:
            done = self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout)
            assert done, f"{len(self.deliveries)} deliveries after {timeout} s, wanted {count}"
            return list(self.deliveries[:count])

    def succeeded(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.status < 300]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status, delay = receiver._next_answer()
            if delay:
                time.sleep(delay)
            headers = {name.lower(): value for name, value in self.headers.items()}
            receiver._record(Delivery(headers, body, status))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up (its timeout) or was killed

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
