"""The job queue: huey on SQLite (a file beside the database) by default, Redis when REDIS_URL is set."""
from __future__ import annotations

import contextlib

from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from .db import private_file
from .sqlite_turns import WriteTurns


class QueueFile(SqliteStorage):
    """huey's SQLite queue with synchronous=NORMAL (WAL): no fsync on every enqueue.

    Safe here because the queue is not the source of truth: the inbox and steps tables are,
    and the sweeper re-queues anything a lost queue entry would have carried.
    """

    def __init__(self, *args, **kwargs):
        self.turns = WriteTurns(kwargs["filename"])
        super().__init__(*args, **kwargs)

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn

    @contextlib.contextmanager
    def db(self, commit=False, close=False):
        # Every enqueue and dequeue writes: take turns with the other processes (sqlite_turns).
        if not commit:
            with super().db(commit, close) as cursor:
                yield cursor
            return
        self.turns.acquire()
        try:
            with super().db(commit, close) as cursor:
                yield cursor
        finally:
            self.turns.release()


class RingbackHuey(Huey):
    """One huey whose tasks are registered at import and whose storage is chosen by configuration."""

    storage_class = MemoryStorage

    def configure(self, config, *, immediate: bool | None = None) -> None:
        if config.redis_url:
            # blocking=True: the consumer waits on BRPOP and wakes the moment a job arrives.
            self.storage_class = RedisStorage
            self.storage_kwargs = {"url": config.redis_url, "blocking": True, "read_timeout": 1}
        else:
            private_file(config.queue_path)
            self.storage_class = QueueFile
            self.storage_kwargs = {"filename": str(config.queue_path), "timeout": 30}
        self._immediate = bool(config.queue_immediate if immediate is None else immediate)
        self.storage = self.create_storage()


huey = RingbackHuey("ringback", results=False, utc=True)
