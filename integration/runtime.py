"""What a process needs to do Ringback's work: configuration, database, SMS sender, queue."""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from connectors.base import SmsSender
from connectors.ratelimit import RateLimiter
from marketplace.vault import Vault
from connectors.sandbox.sender import SandboxSender
from connectors.twilio.client import ACCOUNT_SID, Credentials, TwilioSender, make_client

from . import migrate
from .config import Config, ConfigError
from .db import autocommit, make_engine, make_sessionmaker, read_only
from .queue import huey

log = logging.getLogger("ringback")
TWILIO_TTL = 30.0
# The Twilio SDK logs every request and its headers at INFO, and huey every task twice:
# Ringback logs one line per job itself.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
logging.getLogger("huey").setLevel(logging.WARNING)
logging.getLogger("huey.consumer").setLevel(logging.INFO)


def make_sender(config: Config) -> SmsSender:
    if config.twilio_account_sid:
        return TwilioSender(make_client(config.twilio_account_sid, config.twilio_auth_token, config.twilio_api_url))
    return SandboxSender()


class Runtime:
    def __init__(self, config: Config, *, sender: SmsSender | None = None, migrate_db: bool = True):
        self.config = config
        self.engine = make_engine(config.database_url)
        self.autocommit_engine = autocommit(self.engine)  # one-statement work (db.autocommit)
        if migrate_db and config.env == "production":
            # In production the release phase migrates (Procfile `release:`); web and worker
            # processes only check, so several starting at once never race to migrate.
            if not migrate.is_current(self.engine):
                raise ConfigError("the database schema is not current: run `ringback db upgrade` (the release step)")
        elif migrate_db:
            migrate.ensure_current(config.database_url, self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.read_sessions = make_sessionmaker(read_only(self.engine))  # pages that only read (db.read_only)
        self.sender = sender or make_sender(config)
        self.huey = huey
        huey.configure(config)
        self.vault = Vault(config.encryption_key)
        self.rate_limiter = RateLimiter(config.redis_url)
        # Connected Twilio accounts, read from the database at most every TWILIO_TTL seconds
        # (a `ringback twilio connect` reaches running workers within that).
        self._twilio_lock = threading.Lock()
        self._twilio_cache: dict = {}
        self._twilio_senders: dict[tuple[Credentials, str | None], SmsSender] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None
        os.register_at_fork(after_in_child=self._after_fork)

    def _cached(self, key, load):
        now = time.monotonic()
        with self._twilio_lock:
            hit = self._twilio_cache.get(key)
            if hit is not None and now - hit[0] < TWILIO_TTL:
                return hit[1]
        value = load()
        with self._twilio_lock:
            if len(self._twilio_cache) >= 10_000:  # bounded whatever callers send
                self._twilio_cache.clear()
            self._twilio_cache[key] = (now, value)
        return value

    def forget_twilio_accounts(self) -> None:
        with self._twilio_lock:
            self._twilio_cache.clear()

    def sender_for(self, sub_account_id: int | None) -> SmsSender:
        """The sender of the Twilio account this sub-account texts through (its agency's, else the
        deployment's default), else the process's own (the environment's Twilio, or the sandbox)."""
        from . import twilio_accounts
        if sub_account_id is None:
            return self.sender

        def load():
            with self.sessions() as s:
                return (twilio_accounts.credentials_for_sub(s, self.vault, sub_account_id),
                        twilio_accounts.messaging_service_of(s, sub_account_id))
        creds, service = self._cached(("sub", sub_account_id), load)
        if creds is None and service and self.config.twilio_account_sid:
            creds = self.environment_credentials()
        if creds is None:
            return self.sender
        with self._twilio_lock:
            sender = self._twilio_senders.get((creds, service))
            if sender is None:
                sender = self._twilio_senders[(creds, service)] = TwilioSender(
                    creds.client(self.config.twilio_api_url), messaging_service_sid=service,
                    webhook_login=creds.webhook_login)
        return sender

    def environment_credentials(self) -> Credentials | None:
        """TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: a single business's deployment."""
        if not self.config.twilio_account_sid:
            return None
        return Credentials(self.config.twilio_account_sid, self.config.twilio_auth_token)

    @property
    def sandbox_only(self) -> bool:
        """No text leaves the machine: the process sends through the sandbox and no Twilio account
        is connected."""
        from . import twilio_accounts
        if self.sender.reports_by_callback:  # the environment's own Twilio account
            return False

        def load():
            with self.sessions() as s:
                return twilio_accounts.any_connected(s)
        return not self._cached("any", load)

    def webhook_credentials(self, account_sid: str | None) -> Credentials | None:
        """How a webhook for ``account_sid`` is checked: a connected account's credentials (its auth
        token signs, or with an API key our Basic login is in the URL), else the environment's
        (or, with no Twilio account at all, the sandbox's local token); None for an account that
        is not Ringback's."""
        from . import twilio_accounts

        def load():
            with self.sessions() as s:
                return twilio_accounts.credentials_for_account(s, self.vault, account_sid)
        well_formed = bool(account_sid) and ACCOUNT_SID.match(account_sid) is not None
        creds = self._cached(("account", account_sid), load) if well_formed else None
        if creds is not None:
            return creds
        configured = self.config.twilio_account_sid
        if configured is None and self.sandbox_only:
            return Credentials(account_sid or "", self.config.twilio_webhook_token)
        return Credentials(configured, self.config.twilio_webhook_token) if account_sid == configured else None

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
