"""The job queue: huey on SQLite (a file beside the database) by default, Redis when REDIS_URL is set."""
from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import datetime, timezone

from huey import Huey
from huey.storage import MemoryStorage, PriorityRedisStorage, RedisStorage, SqliteStorage
from redis.exceptions import RedisError

from .db import private_file
from .sqlite_turns import WriteTurns

# What huey's storage raises when the queue is away (Redis restarting, the SQLite file locked past its timeout).
QUEUE_AWAY = (RedisError, sqlite3.Error, OSError)


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


# Job priorities: a caller's text (deciding a call, a reply, a follow-up) goes before the CRM's
# bookkeeping queued earlier, so a backlog of CRM writes never delays a text-back.
TEXTS, BOOKKEEPING = 10, 0


class PriorityQueue(PriorityRedisStorage):
    """huey's Redis queue as a sorted set by priority (a plain Redis list keeps arrival order).
    Its key is its own: a list left under huey's plain key by an earlier version is not read
    again, and the sweeper re-queues the stored work its jobs carried."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_key = "huey.priority.%s" % self.name


class RingbackHuey(Huey):
    """One huey whose tasks are registered at import and whose storage is chosen by configuration."""

    storage_class = MemoryStorage

    def configure(self, config, *, immediate: bool | None = None) -> None:
        if config.redis_url:
            # blocking=True: the consumer waits on BZPOPMIN and wakes the moment a job arrives.
            self.storage_class = PriorityQueue
            self.storage_kwargs = {"url": config.redis_url, "blocking": True, "read_timeout": 1}
        else:
            private_file(config.queue_path)
            self.storage_class = QueueFile
            self.storage_kwargs = {"filename": str(config.queue_path), "timeout": 30}
        self._immediate = bool(config.queue_immediate if immediate is None else immediate)
        self.storage = self.create_storage()

    # Ringback never revokes a job. huey would ask the store before every job whether it was
    # revoked, and clear the flag after it: two round trips to Redis per job, for nothing.
    def is_revoked(self, task, timestamp=None, peek=True) -> bool:
        return False

    def delete(self, key):
        if isinstance(key, str) and key.startswith("r:"):  # a revocation flag (huey's Task.revoke_id)
            return False
        return super().delete(key)

    # Redis here keeps nothing on disk: a restart empties the queue and the schedule. A key set
    # with NX is the sign: absent means every job queued before is gone.
    ALIVE_KEY = "ringback.queue.alive"

    def was_emptied(self) -> bool:
        """True (once) when the queue's store has lost what it held since the last call (a Redis
        restart), or is new: any stored event may then have lost its job."""
        if not isinstance(self.storage, RedisStorage):
            return False  # the SQLite queue is a file: it keeps its jobs across restarts
        return bool(self.storage.conn.set(self.ALIVE_KEY, "1", nx=True))

    # A job's id carries the time it was queued ("<uuid>@<unix seconds>"), so the age of the
    # oldest waiting job can be read off the queue's head (huey's messages hold no such time).
    def enqueue(self, task):
        if task.id and "@" not in task.id:
            task.id = f"{task.id}@{time.time():.3f}"
        return super().enqueue(task)

    def oldest_waiting_seconds(self) -> float:
        """How long the job next in line has waited since it was queued, or came due (0: none waits)."""
        head = self.storage.enqueued_items(1)
        if not head:
            return 0.0
        message = self.serializer.deserialize(head[0])
        _, _, queued = str(message.id).partition("@")
        try:
            since = float(queued)
        except ValueError:  # queued by an earlier version
            return 0.0
        if isinstance(message.eta, datetime):  # a scheduled job waits from when it came due
            eta = message.eta if message.eta.tzinfo else message.eta.replace(tzinfo=timezone.utc)
            since = max(since, eta.timestamp())
        return max(time.time() - since, 0.0)


huey = RingbackHuey("ringback", results=False, utc=True)
