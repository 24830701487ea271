"""Serve a WSGI app on a real loopback port in a background thread."""
from __future__ import annotations

import threading
import time

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


class QuietSpells:
    """A fake vendor that can go quiet: ``hang_next`` holds requests before answering them as
    usual, as a vendor that accepted the connection and stopped talking. The fake calls
    ``_hang()`` in its request gate, and has a ``_lock``."""

    def hang_next(self, seconds: float, times: int = 1, request: str | None = None) -> None:
        """Hold the next ``times`` requests (those whose "METHOD /path" starts with ``request``,
        if given) for ``seconds``."""
        with self._lock:
            self._hangs = getattr(self, "_hangs", []) + [(seconds, request)] * times

    def _hang(self) -> None:
        line = f"{request.method} {request.path}"
        with self._lock:
            hangs = getattr(self, "_hangs", [])
            found = next((i for i, (_, prefix) in enumerate(hangs) if prefix is None or line.startswith(prefix)), None)
            seconds = hangs.pop(found)[0] if found is not None else 0.0
        if seconds:
            time.sleep(seconds)


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
