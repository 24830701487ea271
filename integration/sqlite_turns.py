"""Taking turns at a SQLite file's write lock, across threads and processes, without sleeping.

Several processes write Ringback's SQLite files (gunicorn workers, the worker). When SQLite
finds its write lock taken, its busy handler sleeps 1, 2, 5, 10, 15, 20, 25... ms before
trying again, so a few milliseconds of contention become tens of milliseconds of latency.
Here a writer first waits for its turn on an exclusive ``flock`` of ``<file>.lock``: the
kernel wakes the next waiter the moment the holder releases it, and releases it for a
process that dies. (The `filelock` and `fasteners` packages poll in sleep steps too, which
is exactly what this avoids.)
"""
from __future__ import annotations

import fcntl
import os
import threading


class WriteTurns:
    def __init__(self, path: str):
        self.path = path + ".lock"
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def acquire(self, timeout: float = 30.0) -> None:
        if not self._thread_lock.acquire(timeout=timeout):
            raise TimeoutError(f"waited {timeout:g} s for a write turn on {self.path} (a session left open?)")
        try:
            if self._pid != os.getpid():  # a forked child must not share its parent's lock
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()
