"""The huey consumer, configured for a text-back that leaves within milliseconds."""
from __future__ import annotations

from huey.consumer import Consumer

from ..queue import huey

# Polling: with the SQLite queue each idle worker looks for work every 5 ms, backing off to
# 50 ms; under load it never sleeps. The Redis queue blocks on BRPOP and needs no polling.
POLL_DELAY, POLL_MAX_DELAY, POLL_BACKOFF = 0.005, 0.05, 1.1


class _InProcessConsumer(Consumer):
    """A consumer that runs beside the web server in `ringback serve`: the server owns signals."""

    def _set_signal_handlers(self):
        pass


def make_consumer(workers: int = 4, in_process: bool = False, worker_type: str = "thread") -> Consumer:
    cls = _InProcessConsumer if in_process else Consumer
    return cls(huey, workers=workers, worker_type=worker_type, periodic=True, initial_delay=POLL_DELAY,
               max_delay=POLL_MAX_DELAY, backoff=POLL_BACKOFF, graceful_signal="TERM",
               check_worker_health=True)
