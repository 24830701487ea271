"""Configuration, read only from the environment (names in DESIGN.md)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names it."""


# Safe for a laptop, refused in production.
DEV_SECRET_KEY = "ringback-local-development-secret"
PRODUCTION_REQUIRED = ("RINGBACK_SECRET_KEY", "RINGBACK_PUBLIC_URL", "DATABASE_URL", "RINGBACK_ENCRYPTION_KEY")


@dataclass(frozen=True)
class Config:
    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:5000"
    secret_key: str = DEV_SECRET_KEY
    encryption_key: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    ghl_webhook_public_key: str | None = None
    ghl_api_url: str = "https://services.leadconnectorhq.com"
    ghl_client_id: str | None = None
    ghl_client_secret: str | None = None
    ghl_conversation_provider_id: str | None = None
    ghl_app_id: str | None = None
    ghl_marketplace_url: str = "https://marketplace.gohighlevel.com"
    ghl_sso_key: str | None = None
    hubspot_client_id: str | None = None
    hubspot_client_secret: str | None = None
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_login_url: str = "https://login.salesforce.com"
    hubspot_api_url: str = "https://api.hubapi.com"
    queue_immediate: bool = False
    send_concurrency: int = 16
    step_lease_seconds: int = 60
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Config":
        env = dict(os.environ if environ is None else environ)
        mode = env.get("RINGBACK_ENV", "development").strip().lower()
        if mode not in {"development", "production", "test"}:
            raise ConfigError(f"RINGBACK_ENV must be development, production or test, not {mode!r}")
        if mode == "production":
            missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
            if missing:
                raise ConfigError("missing required setting(s) for production: " + ", ".join(missing))
            if env["RINGBACK_SECRET_KEY"] == DEV_SECRET_KEY:
                raise ConfigError("RINGBACK_SECRET_KEY is the development default; set a secret of your own")
        data_dir = Path(env.get("RINGBACK_DATA_DIR", "var"))
        database_url = env.get("DATABASE_URL") or f"sqlite:///{(data_dir / 'ringback.db').resolve()}"
        database_url = _sqlalchemy_url(database_url)
        sid, token = env.get("TWILIO_ACCOUNT_SID") or None, env.get("TWILIO_AUTH_TOKEN") or None
        if bool(sid) != bool(token):
            raise ConfigError("set both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or neither (sandbox)")
        values = dict(
            env=mode,
            send_concurrency=_whole(env, "RINGBACK_SEND_CONCURRENCY", 16),
            step_lease_seconds=_whole(env, "RINGBACK_STEP_LEASE_SECONDS", 60),
            data_dir=data_dir,
            database_url=database_url,
            redis_url=env.get("REDIS_URL") or None,
            public_url=(env.get("RINGBACK_PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
            secret_key=env.get("RINGBACK_SECRET_KEY") or DEV_SECRET_KEY,
            encryption_key=env.get("RINGBACK_ENCRYPTION_KEY") or None,
            twilio_account_sid=sid,
            twilio_auth_token=token,
            twilio_api_url=(env.get("TWILIO_API_URL") or "https://api.twilio.com").rstrip("/"),
            ghl_webhook_public_key=env.get("GHL_WEBHOOK_PUBLIC_KEY") or None,
            ghl_api_url=(env.get("GHL_API_URL") or "https://services.leadconnectorhq.com").rstrip("/"),
            ghl_client_id=env.get("GHL_CLIENT_ID") or None,
            ghl_client_secret=env.get("GHL_CLIENT_SECRET") or None,
            ghl_conversation_provider_id=env.get("GHL_CONVERSATION_PROVIDER_ID") or None,
            ghl_app_id=env.get("GHL_APP_ID") or None,
            # White-label agencies install through their own brand's marketplace host.
            ghl_marketplace_url=(env.get("GHL_MARKETPLACE_URL") or "https://marketplace.gohighlevel.com").rstrip("/"),
            ghl_sso_key=env.get("GHL_SSO_KEY") or None,
            hubspot_client_id=env.get("HUBSPOT_CLIENT_ID") or None,
            hubspot_client_secret=env.get("HUBSPOT_CLIENT_SECRET") or None,
            salesforce_client_id=env.get("SALESFORCE_CLIENT_ID") or None,
            salesforce_client_secret=env.get("SALESFORCE_CLIENT_SECRET") or None,
            salesforce_login_url=(env.get("SALESFORCE_LOGIN_URL") or "https://login.salesforce.com").rstrip("/"),
            hubspot_api_url=(env.get("HUBSPOT_API_URL") or "https://api.hubapi.com").rstrip("/"),
        )
        values.update(overrides)
        return cls(**values)

    @property
    def sms_backend(self) -> str:
        """'twilio' when credentials are set, else 'sandbox' (nothing leaves the machine)."""
        return "twilio" if self.twilio_account_sid else "sandbox"

    @property
    def twilio_webhook_token(self) -> str:
        """The secret Twilio webhooks are signed with.

        With real credentials that is the account's auth token. In sandbox mode there is no
        Twilio account, so a local token derived from the secret key stands in for it and
        `ringback simulate-call` signs with the same one: the signature check never switches off.
        """
        return self.twilio_auth_token or f"sandbox-{self.secret_key}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def queue_path(self) -> Path:
        """The SQLite job queue lives beside the SQLite database (or in the data dir)."""
        if self.is_sqlite and self.database_url not in ("sqlite://", "sqlite:///:memory:"):
            return Path(self.database_url.split("///", 1)[1]).with_name("ringback-queue.db")
        return (self.data_dir / "ringback-queue.db").resolve()


def _whole(env: dict, name: str, default: int) -> int:
    try:
        value = int(env.get(name) or default)
        if value < 1:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {env.get(name)!r}") from None
    return value


def _sqlalchemy_url(url: str) -> str:
    # Heroku-style postgres:// URLs, and plain postgresql:// meaning psycopg 3 (the driver we ship).
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
