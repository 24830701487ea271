"""Tables. Every timestamp is stored in UTC and comes back timezone-aware."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text,
                        TypeDecorator, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no tz) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Agency(Base):
    __tablename__ = "agencies"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_agencies_provider_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The CRM account the agency installed from (GoHighLevel companyId, ...), when it did.
    provider: Mapped[str | None] = mapped_column(String(20), nullable=True)
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubAccount(Base):
    __tablename__ = "sub_accounts"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_sub_accounts_provider_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(20), default="twilio")
    external_id: Mapped[str] = mapped_column(String(100))
    # The number callers dial and texts come from (E.164); unique so a call routes to one place.
    phone_number: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64))
    business_hours: Mapped[str] = mapped_column(String(500))
    booking_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    default_region: Mapped[str] = mapped_column(String(2), default="US")
    # The secret its booking tool signs POST /webhooks/booking with (sealed by the vault).
    booking_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # `ringback subaccount remove`: its number and CRM account are let go, its history stays for the reports.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A number Ringback wired (`ringback subaccount number --assign`): its Twilio sid, and the SMS URL
    # and status callback it had before, put back when it is released.
    twilio_number_sid: Mapped[str | None] = mapped_column(String(34), nullable=True)
    twilio_previous: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # Texts go through this Messaging Service (its A2P 10DLC campaign) instead of the bare number.
    messaging_service_sid: Mapped[str | None] = mapped_column(String(34), nullable=True)
    # What the last check of the sender with its vendor found wrong ({"short", "why", "fix"}), or None.
    sender_problem: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    sender_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Catch-up (integration.catch_up): the vendor's calls were listed up to caught_up_until; the
    # last pass that got an answer ran at caught_up_at; what the last one that did not was told;
    # and how many calls no webhook brought.
    caught_up_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    caught_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    catch_up_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    catch_up_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The trade whose pack was applied last (workflows.config.PACKS): agencies choose sub-accounts by it.
    trade: Mapped[str | None] = mapped_column(String(30), nullable=True)


# The catch-up lag on /metrics, per vendor: the least recently caught-up live sub-account, and the
# oldest live one never caught up, each one index probe (partial indexes) instead of a scan.
_live = SubAccount.removed_at.is_(None)
_never = SubAccount.caught_up_at.is_(None) & _live
Index("ix_sub_accounts_caught_up", SubAccount.provider, SubAccount.caught_up_at,
      postgresql_where=_live, sqlite_where=_live)
Index("ix_sub_accounts_never_caught_up", SubAccount.provider, SubAccount.created_at,
      postgresql_where=_never, sqlite_where=_never)


class WorkflowSetting(Base):
    """A workflow's switch and settings: agency defaults (sub_account_id NULL) or a sub-account's overrides."""

    __tablename__ = "workflow_settings"
    __table_args__ = (UniqueConstraint("agency_id", "sub_account_id", "workflow", name="uq_workflow_settings_scope"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    sub_account_id: Mapped[int | None] = mapped_column(ForeignKey("sub_accounts.id", ondelete="CASCADE"), nullable=True)
    workflow: Mapped[str] = mapped_column(String(50))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboxEvent(Base):
    """Every verified webhook, committed before it is acknowledged."""

    __tablename__ = "inbox_events"
    __table_args__ = (UniqueConstraint("provider", "event_key", name="uq_inbox_events_provider_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str] = mapped_column(String(200))
    # Twilio's I-Twilio-Idempotency-Token on retried deliveries.
    idempotency_token: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    sub_account_id: Mapped[int | None] = mapped_column(ForeignKey("sub_accounts.id"), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|ignored|unroutable|failed
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The one retry scheduled for a pending event is due then; the sweeper re-queues it only once
    # that is well past (the retry was lost), so an event never has two retry chains.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # None: a webhook brought it; "catch_up": a catch-up pass found it (texted only while it helps).
    found_by: Mapped[str | None] = mapped_column(String(12), nullable=True)
    # The request id of the webhook that brought it (integration.logs): the worker logs with it too.
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


Index("ix_inbox_events_status_received", InboxEvent.status, InboxEvent.received_at)


class Call(Base):
    """One phone call as Ringback understood it: its furthest status and what was decided."""

    __tablename__ = "calls"
    __table_args__ = (UniqueConstraint("provider", "call_id", name="uq_calls_provider_call"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    provider: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[str] = mapped_column(String(100))
    caller: Mapped[str] = mapped_column(String(40))  # E.164, or the raw value when unusable
    called: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    status_rank: Mapped[int] = mapped_column(Integer)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    missed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(30), nullable=True)  # texted|joined|answered|suppressed|unusable_number
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    recovery_id: Mapped[int | None] = mapped_column(ForeignKey("recoveries.id"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Recovery(Base):
    """One missed caller being won back: from the missed call to booked or lost."""

    __tablename__ = "recoveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    caller: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="missed")  # missed|texted|replied|booked|lost|closed
    # "<sub_account_id>:<caller>" while this is the caller's current recovery: the database
    # keeps two concurrent missed calls from the same caller from opening two recoveries.
    open_key: Mapped[str | None] = mapped_column(String(60), unique=True, nullable=True)
    calls_count: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    texted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    crm_refs: Mapped[dict] = mapped_column(JSON, default=dict)
    # The tracked booking link (/b/<token>) in this recovery's texts, and its clicks.
    link_token: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    link_clicks: Mapped[int] = mapped_column(Integer, default=0)
    link_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    touches: Mapped[int] = mapped_column(Integer, default=0)  # texts sent to the caller (at most 3)


Index("ix_recoveries_sub_caller", Recovery.sub_account_id, Recovery.caller)
# The reports read a sub-account's period (integration/report.py).
Index("ix_recoveries_sub_opened", Recovery.sub_account_id, Recovery.opened_at)
# Missed calls only, with their outcome: the reports count them without reading the table.
_missed = Call.missed.is_(True)
Index("ix_calls_missed_sub_started", Call.sub_account_id, Call.started_at, Call.outcome,
      postgresql_where=_missed, sqlite_where=_missed)


# A Message's status when the CRM itself texted a caller Ringback had just texted (GoHighLevel's own
# Missed Call Text Back): recorded so the pages can say the caller got two texts.
CRM_TEXT_STATUS = "sent_by_crm"


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int | None] = mapped_column(ForeignKey("sub_accounts.id"), nullable=True)
    recovery_id: Mapped[int | None] = mapped_column(ForeignKey("recoveries.id"), nullable=True)
    direction: Mapped[str] = mapped_column(String(10))  # outbound | inbound
    to_number: Mapped[str] = mapped_column(String(20))
    from_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    provider: Mapped[str] = mapped_column(String(20))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # "<step idempotency key>": at most one outbound text per recovery touch.
    idempotency_key: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)
    intent: Mapped[str | None] = mapped_column(String(20), nullable=True)  # an inbound reply: what it asked for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Step(Base):
    """Everything scheduled: the source of truth the sweeper re-claims from."""

    __tablename__ = "steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    recovery_id: Mapped[int | None] = mapped_column(ForeignKey("recoveries.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(30))  # text_back | reply_answer | ...
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|running|done|failed|expired|cancelled
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


Index("ix_steps_status_due", Step.status, Step.due_at)


# A sub-account's last text out (integration.texting.problem, per row of the agency page).
Index("ix_messages_sub_direction", Message.sub_account_id, Message.direction, Message.id)


class OptOut(Base):
    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("sub_account_id", "phone", name="uq_opt_outs_sub_phone"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    phone: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))  # keyword | twilio_21610 | manual
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_opt_outs_sub_created", OptOut.sub_account_id, OptOut.created_at)


class Installation(Base):
    """Access to a sub-account's CRM: tokens sealed by the vault, never stored in plain text."""

    __tablename__ = "installations"
    __table_args__ = (UniqueConstraint("sub_account_id", "provider", name="uq_installations_sub_provider"),
                      UniqueConstraint("webhook_secret_hash", name="uq_installations_webhook_secret_hash"))
    id: Mapped[int] = mapped_column(primary_key=True)
    # A sub-account's own access, or (sub_account_id NULL) an agency-wide one: a GoHighLevel
    # Company token that location tokens are exchanged from.
    sub_account_id: Mapped[int | None] = mapped_column(ForeignKey("sub_accounts.id", ondelete="CASCADE"),
                                                       nullable=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    provider: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="oauth")  # oauth | private_token
    user_type: Mapped[str | None] = mapped_column(String(20), nullable=True)  # GoHighLevel: Location | Company
    external_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the account the token is for
    access_token: Mapped[str] = mapped_column(Text)  # sealed
    refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)  # sealed
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scopes: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Salesforce: where the org's API lives, and the secret in its Outbound Message URL
    # (sealed, and hashed so a request can be matched to it without decrypting every row).
    instance_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    webhook_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Health, for `ringback installations list`.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_write_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TriggerSubscription(Base):
    """A GoHighLevel workflow that uses one of Ringback's triggers: where to fire it."""

    __tablename__ = "trigger_subscriptions"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_trigger_subscriptions_external"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(20))
    trigger_key: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(100))  # triggerData.id
    target_url: Mapped[str] = mapped_column(String(1000))
    workflow_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    filters: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SyncOp(Base):
    """One write to a CRM (the sync log): applied in order per recovery, retried, never dropped."""

    __tablename__ = "sync_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    recovery_id: Mapped[int] = mapped_column(ForeignKey("recoveries.id"))
    provider: Mapped[str] = mapped_column(String(20))
    op: Mapped[str] = mapped_column(String(30))  # contact | deal | stage | note | task | text_status
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


Index("ix_sync_log_recovery", SyncOp.recovery_id, SyncOp.id)
Index("ix_sync_log_status_next", SyncOp.status, SyncOp.next_attempt_at)


class TwilioAccount(Base):
    """A Twilio account Ringback sends through: an agency's own, or (agency_id NULL) the
    deployment's default for agencies without one. Connected with its auth token, or with an API
    key (api_key_sid; auth_token then holds the key's secret). Secrets are sealed by the vault."""

    __tablename__ = "twilio_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), unique=True, nullable=True)
    account_sid: Mapped[str] = mapped_column(String(34), unique=True)
    auth_token: Mapped[str] = mapped_column(Text)  # sealed: the auth token, or the API key's secret
    api_key_sid: Mapped[str | None] = mapped_column(String(34), nullable=True)
    webhook_login: Mapped[str | None] = mapped_column(Text, nullable=True)  # sealed; API-key accounts only
    friendly_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """An agency's key to the admin API (``Authorization: Bearer rb_...``). Only the token's
    SHA-256 is kept (a random 256-bit token needs no slow hash); it is shown once, when made."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(12))  # its first characters, to tell tokens apart in lists
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BulkChange(Base):
    """A change an agency made to many sub-accounts at once: who, when, what, which, and each
    sub-account's workflow rows as they were before, so the change can be undone from here."""

    __tablename__ = "bulk_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))  # "api:<token name>", "cli:<user>", a CRM user
    kind: Mapped[str] = mapped_column(String(30))  # switch_workflow | apply_pack
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    sub_account_ids: Mapped[list] = mapped_column(JSON, default=list)
    # {sub id: {workflow: {"enabled": bool, "settings": {...}} or None (no row of its own)}}
    before: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    undone_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class WeeklySummary(Base):
    """A sub-account's weekly summary email for one week: claimed before it is sent, so however
    many workers run the hourly job it goes out once; a failed send says why and is tried again."""

    __tablename__ = "weekly_summaries"
    __table_args__ = (UniqueConstraint("sub_account_id", "week", name="uq_weekly_summaries_sub_week"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sub_account_id: Mapped[int] = mapped_column(ForeignKey("sub_accounts.id"))
    week: Mapped[str] = mapped_column(String(10))  # the Monday of the week covered, YYYY-MM-DD
    status: Mapped[str] = mapped_column(String(10), default="sending")  # sending | sent | failed
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
