"""A scripted HTTP server for the tests of evalpin's server client (serving/endpoints.py, check_server.py): a
real server on 127.0.0.1 (the standard library's, in a thread) whose answer to each path the test sets,
recording every request. It stands in for vLLM or llama-cpp-python's server where their wire format, not
their model, is under test; the live servers are tests/serving/test_serve_args.py's (slow, `make server-
env`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# An answer: the request's JSON body (None for a GET) -> (HTTP status, JSON-able payload or raw bytes).
Answer = Callable[[dict | None], tuple[int, object]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None


@dataclass
class ScriptedServer:
    url: str = ""
    answers: dict[str, Answer] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # sent with every answer (e.g. Location)
    trickle_s: float = 0.0  # > 0: the answer's bytes one at a time, this long apart

    def answer(self, path: str, payload: object, status: int = 200) -> None:
        """Answer PATH always with PAYLOAD (JSON, or bytes sent as they are)."""
        self.answers[path] = lambda _body: (status, payload)

    def bodies(self, path: str) -> list[dict | None]:
        return [r.body for r in self.requests if r.path == path]


def _handler(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._reply(json.loads(self.rfile.read(length)) if length else None)

        def _reply(self, body: dict | None) -> None:
            server.requests.append(Request(self.command, self.path, dict(self.headers), body))
            answer = server.answers.get(self.path)
            try:
                status, payload = answer(body) if answer else (404, {"detail": "Not Found"})
            except Exception as exc:  # the script's own failure, shown to the client rather than hung up
                status, payload = 500, {"script error": repr(exc)}
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in server.headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not server.trickle_s:
                self.wfile.write(data)
                return
            for i in range(len(data)):
                try:
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                except OSError:  # the client gave up: what the test expects
                    return
                time.sleep(server.trickle_s)

        def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures
            pass

    return Handler


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """A ScriptedServer listening on a free port of 127.0.0.1 for the block."""
    scripted = ScriptedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(scripted))
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
