"""The huey consumer, configured for a text-back that leaves within milliseconds, with its sweeper."""
from __future__ import annotations

import logging
import threading

from huey.consumer import Consumer

from ..queue import huey

log = logging.getLogger("ringback.worker")

# Polling: with the SQLite queue each idle worker looks for work every 5 ms, backing off to
# 50 ms; under load it never sleeps. The Redis queue blocks on BZPOPMIN and needs no polling.
POLL_DELAY, POLL_MAX_DELAY, POLL_BACKOFF = 0.005, 0.05, 1.1
# The sweeper re-queues what a lost job carried (a killed worker, a restarted Redis that kept
# nothing): every 15 s, so work comes back well within a minute of its queue; huey's periodic
# tasks run at most once a minute, hence a thread of its own.
SWEEP_SECONDS = 15.0


class Sweeper(threading.Thread):
    """Runs ``sweep`` now and every ``every`` seconds until stopped; a failed pass (the database or
    the queue away) is logged and the next one tries again."""

    def __init__(self, sweep, every: float = SWEEP_SECONDS):
        super().__init__(name="ringback-sweeper", daemon=True)
        self.sweep, self.every = sweep, every
        self.stopping = threading.Event()

    def run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 (whatever is away now may be back next time)
                log.warning("sweep failed key=worker.sweep_failed (again in %.0fs): %s", self.every,
                            str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            if self.stopping.wait(self.every):
                return


class RingbackConsumer(Consumer):
    """huey's consumer plus the sweeper thread."""

    def __init__(self, *args, sweep=None, in_process: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_process = in_process
        self.sweeper = Sweeper(sweep) if sweep else None

    def _set_signal_handlers(self):
        if not self.in_process:  # beside the web server in `ringback serve`: the server owns signals
            super()._set_signal_handlers()

    def start(self):
        super().start()
        if self.sweeper:
            self.sweeper.start()

    def stop(self, graceful=False):
        if self.sweeper:
            self.sweeper.stopping.set()
        super().stop(graceful)


def make_consumer(workers: int = 4, in_process: bool = False, worker_type: str = "thread",
                  sweep=None) -> Consumer:
    """``sweep``: the pass the sweeper thread runs (tasks.sweep), first as the consumer starts."""
    return RingbackConsumer(huey, workers=workers, worker_type=worker_type, periodic=True, initial_delay=POLL_DELAY,
                            max_delay=POLL_MAX_DELAY, backoff=POLL_BACKOFF, graceful_signal="TERM",
                            check_worker_health=True, sweep=sweep, in_process=in_process)
