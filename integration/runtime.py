"""What a process needs to do Ringback's work: configuration, database, SMS sender, queue."""
from __future__ import annotations

import logging
import threading

from connectors.base import SmsSender
from connectors.sandbox.sender import SandboxSender
from connectors.twilio.client import TwilioSender, make_client

from . import migrate
from .config import Config
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
        if migrate_db:
            migrate.ensure_current(config.database_url, self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.sender = sender or make_sender(config)
        self.huey = huey
        huey.configure(config)

    def status_callback_url(self) -> str:
        return f"{self.config.public_url}/webhooks/twilio/message-status"

    def close(self) -> None:
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
