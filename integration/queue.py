"""The job queue: huey on SQLite (a file beside the database) by default, Redis when REDIS_URL is set."""
from __future__ import annotations

from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage


class RingbackHuey(Huey):
    """One huey whose tasks are registered at import and whose storage is chosen by configuration."""

    storage_class = MemoryStorage

    def configure(self, config, *, immediate: bool | None = None) -> None:
        if config.redis_url:
            # blocking=True: the consumer waits on BRPOP and wakes the moment a job arrives.
            self.storage_class = RedisStorage
            self.storage_kwargs = {"url": config.redis_url, "blocking": True, "read_timeout": 1}
        else:
            config.queue_path.parent.mkdir(parents=True, exist_ok=True)
            self.storage_class = SqliteStorage
            self.storage_kwargs = {"filename": str(config.queue_path), "timeout": 30}
        self._immediate = bool(config.queue_immediate if immediate is None else immediate)
        self.storage = self.create_storage()


huey = RingbackHuey("ringback", results=False, utc=True)
