"""Serve a WSGI app on a real loopback port in a background thread."""
from __future__ import annotations

import threading

from flask import request
from werkzeug.serving import make_server


def strict(app, fake, answer) -> None:
    """Anything ``app`` does not serve is recorded in ``fake.unexpected`` (the test fixture fails
    on it) and answered with ``answer()``, the vendor's own 404."""

    @app.errorhandler(404)
    @app.errorhandler(405)
    def _unexpected(_exc):
        with fake._lock:
            fake.unexpected.append(f"{request.method} {request.full_path}")
        return answer()


class LoopbackServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, ssl_context=None):
        self._server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
