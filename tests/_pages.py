"""A tiny web site on 127.0.0.1 for the URL tests: `serve_pages(page)` serves `page(path)` (HTML
text, or a redirect location after "->"), and `/slow` answers after 3 s (a fetch timeout)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def serve_pages(page: Callable[[str], str]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/slow":
                threading.Event().wait(3)
            body = page(self.path)
            if body.startswith("->"):
                self.send_response(302)
                self.send_header("Location", body[2:])
                self.end_headers()
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:  # the fetcher gave up (timeout, size cap)
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
