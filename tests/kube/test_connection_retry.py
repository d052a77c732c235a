"""The API server's 429 (Too Many Requests: not acted on, come back after Retry-After) is asked
again a bounded number of times; any other error is not. A local HTTP server plays the API server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from guestgate.kube import connection
from guestgate.kube.connection import ApiException, Connection


class FakeApi(BaseHTTPRequestHandler):
    answers: list[tuple[int, str | None]] = []  # (status, Retry-After) per request, then 200
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        status, after = self.answers.pop(0) if self.answers else (200, None)
        body = b'{"items": []}' if status == 200 else b'{"message": "storage is (re)initializing"}'
        self.send_response(status)
        if after is not None:
            self.send_header("Retry-After", after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def api() -> Iterator[Connection]:
    FakeApi.answers, FakeApi.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Connection(f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def test_a_429_is_asked_again_after_retry_after(api: Connection) -> None:
    FakeApi.answers = [(429, "0"), (429, "0")]
    assert api.request("GET", "/apis/guestgate.io/v1alpha1/guestclusters") == b'{"items": []}'
    assert len(FakeApi.seen) == 3


def test_a_lasting_429_ends_in_an_error(api: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "TOO_MANY_RETRIES", 2)
    FakeApi.answers = [(429, "0")] * 5
    with pytest.raises(ApiException) as raised:
        api.request("GET", "/api/v1/configmaps")
    assert raised.value.status == 429 and "initializing" in raised.value.body
    assert len(FakeApi.seen) == 3  # the first ask and 2 more, no more


def test_other_errors_are_not_asked_again(api: Connection) -> None:
    FakeApi.answers = [(503, "0")]
    with pytest.raises(ApiException) as raised:
        api.request("GET", "/api/v1/configmaps")
    assert raised.value.status == 503 and len(FakeApi.seen) == 1
