"""What a process needs to do Ringback's work: configuration, database, SMS sender, queue."""
from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from connectors.base import SmsSender
from connectors.ratelimit import RateLimiter
from marketplace.vault import Vault
from connectors.sandbox.sender import SandboxSender
from connectors.twilio.client import TwilioSender, make_client

from . import migrate
from .config import Config, ConfigError
from .db import make_engine, make_sessionmaker
from .queue import huey

log = logging.getLogger("ringback")
# The Twilio SDK logs every request and its headers at INFO, and huey every task twice:
# Ringback logs one line per job itself.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
logging.getLogger("huey").setLevel(logging.WARNING)
logging.getLogger("huey.consumer").setLevel(logging.INFO)


def make_sender(config: Config) -> SmsSender:
    if config.sms_backend == "twilio":
        return TwilioSender(make_client(config.twilio_account_sid, config.twilio_auth_token, config.twilio_api_url))
    return SandboxSender()


class Runtime:
    def __init__(self, config: Config, *, sender: SmsSender | None = None, migrate_db: bool = True):
        self.config = config
        self.engine = make_engine(config.database_url)
        if migrate_db and config.env == "production":
            # In production the release phase migrates (Procfile `release:`); web and worker
            # processes only check, so several starting at once never race to migrate.
            if not migrate.is_current(self.engine):
                raise ConfigError("the database schema is not current: run `ringback db upgrade` (the release step)")
        elif migrate_db:
            migrate.ensure_current(config.database_url, self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.sender = sender or make_sender(config)
        self.huey = huey
        huey.configure(config)
        self.vault = Vault(config.encryption_key)
        self.rate_limiter = RateLimiter(config.redis_url)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        os.register_at_fork(after_in_child=self._after_fork)

    @property
    def lease(self) -> timedelta:
        """How long a worker holds a step before the sweeper may give it to another."""
        return timedelta(seconds=self.config.step_lease_seconds)

    def status_callback_url(self) -> str:
        return f"{self.config.public_url}/webhooks/twilio/message-status"

    @property
    def send_pool(self) -> ThreadPoolExecutor:
        """Threads that wait on the SMS provider, so the queue's workers never do.

        A real Twilio request takes 100-300 ms: the worker threads decide and record (CPU and
        database), and hand the network wait to this pool (RINGBACK_SEND_CONCURRENCY threads).
        """
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.config.send_concurrency, thread_name_prefix="ringback-send")
            self._pool_pid = os.getpid()
        return self._pool

    def _after_fork(self) -> None:
        # A forked worker process must not use its parent's database connections or threads.
        self.engine.dispose(close=False)
        self._pool = None

    def close(self) -> None:
        """Finish the sends in flight, then release the database."""
        if self._pool is not None and self._pool_pid == os.getpid():
            self._pool.shutdown(wait=True)
            self._pool = None
        self.engine.dispose()


_lock = threading.Lock()
_current: Runtime | None = None


def install(rt: Runtime) -> Runtime:
    """Make ``rt`` the runtime this process's jobs use."""
    global _current
    with _lock:
        _current = rt
    return rt


def current() -> Runtime:
    if _current is None:
        install(Runtime(Config.from_env()))
    return _current
