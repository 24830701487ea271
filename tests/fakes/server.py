"""Serve a WSGI app on a real loopback port in a background thread."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server


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
