"""Configuration, read only from the environment (names in DESIGN.md)."""
from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names it."""


# The constant earlier versions used in development. Published, so refused everywhere it is given.
DEV_SECRET_KEY = "ringback-local-development-secret"
SECRET_KEY_FILE, ENCRYPTION_KEY_FILE = "secret_key", "encryption_key"
KEYS_COMMAND = "ringback keys new"
VENDOR_CREDENTIALS = ("TWILIO_AUTH_TOKEN", "GHL_CLIENT_SECRET", "HUBSPOT_CLIENT_SECRET", "SALESFORCE_CLIENT_SECRET",
                      "GHL_SSO_KEY")
PRODUCTION_REQUIRED = ("RINGBACK_SECRET_KEY", "RINGBACK_PUBLIC_URL", "DATABASE_URL", "RINGBACK_ENCRYPTION_KEY")


@dataclass(frozen=True)
class Config:
    env: str = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    public_url: str = "http://127.0.0.1:5000"
    secret_key: str = ""
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
    metrics_enabled: bool = True
    # Message bodies, callers' numbers and webhook payloads older than this many days are removed
    # (integration.retention); None keeps them.
    retention_days: int | None = None
    log_format: str = "text"  # RINGBACK_LOG_FORMAT: text, or json (one object per line)
    # The weekly summaries' mail server (RINGBACK_SMTP_URL: smtp://[user:password@]host[:port], STARTTLS
    # when the server offers it; smtps:// for TLS from the start) and sender (RINGBACK_MAIL_FROM).
    smtp_url: str | None = None
    mail_from: str | None = None
    vendor_credentials: tuple = ()  # names of the real vendor secrets set (for the development warning)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Config":
        env = dict(os.environ if environ is None else environ)
        mode = str(overrides.get("env") or env.get("RINGBACK_ENV", "development")).strip().lower()
        if mode not in {"development", "production", "test"}:
            raise ConfigError(f"RINGBACK_ENV must be development, production or test, not {mode!r}")
        if mode == "production":
            missing = [name for name in PRODUCTION_REQUIRED if not env.get(name)]
            if missing:
                raise ConfigError("missing required setting(s) for production: " + ", ".join(missing))
        if env.get("RINGBACK_SECRET_KEY") == DEV_SECRET_KEY:
            raise ConfigError("RINGBACK_SECRET_KEY is the old published development default; set a secret of your own "
                              "or unset it (development then keeps a random one in the data directory)")
        data_dir = Path(overrides.get("data_dir") or env.get("RINGBACK_DATA_DIR", "var"))
        # Development and tests: secrets nobody else knows, made on first run and kept in the
        # data directory (0600), never a published constant. Production names its own.
        secret_key = overrides.get("secret_key") or env.get("RINGBACK_SECRET_KEY") or \
            local_secret(data_dir, SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))
        encryption_key = overrides.get("encryption_key") or env.get("RINGBACK_ENCRYPTION_KEY") or \
            local_secret(data_dir, ENCRYPTION_KEY_FILE, lambda: Fernet.generate_key().decode())
        check_fernet_keys(encryption_key)
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
            secret_key=secret_key,
            encryption_key=encryption_key,
            # Prometheus metrics tell every tenant's volumes to whoever asks: open in development,
            # closed in production unless RINGBACK_METRICS=on (then scrape from a private network).
            metrics_enabled=_switch(env, "RINGBACK_METRICS", default=mode != "production"),
            retention_days=_whole(env, "RINGBACK_RETENTION_DAYS", 1) if env.get("RINGBACK_RETENTION_DAYS") else None,
            smtp_url=_smtp(env),
            mail_from=env.get("RINGBACK_MAIL_FROM") or None,
            log_format=_choice(env, "RINGBACK_LOG_FORMAT", ("text", "json")),
            vendor_credentials=tuple(name for name in VENDOR_CREDENTIALS if env.get(name)),
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

    def warnings(self) -> list[str]:
        """What an operator must hear at start: settings that work but are not safe or not real."""
        found = []
        if self.env == "development" and self.vendor_credentials:
            found.append(f"DEVELOPMENT MODE WITH REAL CREDENTIALS ({', '.join(self.vendor_credentials)}): development shows every business's calls "
                         "and texts on the home page and offers a sign-in without a CRM. Set RINGBACK_ENV=production "
                         "(with RINGBACK_SECRET_KEY, RINGBACK_ENCRYPTION_KEY, RINGBACK_PUBLIC_URL, DATABASE_URL) "
                         "before anyone else can reach this server.")
        if self.env == "production" and self.sms_backend == "sandbox":
            found.append("texts go to the SANDBOX sender: nothing reaches a caller until TWILIO_ACCOUNT_SID and "
                         "TWILIO_AUTH_TOKEN are set")
        if self.env == "production" and not self.public_url.startswith("https://"):
            found.append(f"RINGBACK_PUBLIC_URL ({self.public_url}) is not https: the CRMs and Twilio require https, "
                         "and session cookies are not marked Secure")
        return found

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


def local_secret(data_dir: Path, name: str, make) -> str:
    """The secret kept in ``data_dir/name`` (0600), made on first use; concurrent first runs agree."""
    path = Path(data_dir) / name
    for _ in range(50):
        try:
            value = path.read_text().strip()
            if value:
                return value
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process is writing it: read it on the next turn
            else:
                value = make()
                with os.fdopen(fd, "w") as f:
                    f.write(value + "\n")
                return value
        except OSError as exc:
            raise ConfigError(f"cannot read or create {path}: {exc.strerror}") from None
        time.sleep(0.02)
    raise ConfigError(f"{path} stays empty: delete it and start again")


def check_fernet_keys(keys: str) -> None:
    for key in (k.strip() for k in keys.split(",")):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(f"RINGBACK_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated, "
                              f"first one encrypting: make one with `{KEYS_COMMAND}`") from None


def _choice(env: dict, name: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _switch(env: dict, name: str, *, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


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


def _smtp(env: dict) -> str | None:
    from urllib.parse import urlsplit
    value = (env.get("RINGBACK_SMTP_URL") or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("smtp", "smtps") and parts.hostname and (parts.port or 0) >= 0
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError("RINGBACK_SMTP_URL must be smtp://[user:password@]host[:port] (STARTTLS when offered) or "
                          "smtps://[user:password@]host[:port] (TLS from the start)")
    return value
