"""A job's CRM session: a sub-account's installation read and its token opened once, then used for
every CRM call the job makes (completing an event, sending through the CRM's own conversations,
writing a recovery's steps).

The worker makes one per job (integration.worker.tasks); a one-off caller (a page, a workflow
action) makes its own. What it keeps is the installation's access (token, instance URL, the
sub-account's CRM overrides), never a vendor client: each ``port()`` builds a fresh one, so the
send pool's threads and the job's own thread can share a session.

A token about to expire (HubSpot's last 30 minutes) is refreshed before it is used, and one the
CRM refuses is refreshed once (single-flight, integration.tokens) and the call made again; the
session then forgets the old access and reads the installation again.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from connectors import registry
from connectors.base import CrmError

from . import tokens
from .models import Installation, SubAccount, WorkflowSetting
from .settings_store import CRM_SETTINGS


@dataclass(frozen=True)
class Access:
    """What a CRM port is built from: one installation's, read and unsealed once."""

    sub_account_id: int
    provider: str
    external_id: str
    installation_id: int
    token: str
    instance_url: str | None
    overrides: dict
    expires_at: datetime | None  # only for a token that can be refreshed


class CrmSession:
    def __init__(self, rt):
        self.rt = rt
        self._access: dict[int, Access] = {}
        self._lock = threading.Lock()
        self.opened = 0  # installations read and unsealed (for the tests and the benchmarks)

    def port(self, sub_account_id: int, s=None):
        """The CRM port of this sub-account; CrmError when it has no CRM installation. ``s``: a
        database session to read with, when the caller has one open."""
        with self._lock:
            access = self._access.get(sub_account_id)
        if access is None:
            access = self._open(s, sub_account_id) if s is not None else self._open_new(sub_account_id)
            with self._lock:
                self._access[sub_account_id] = access
                self.opened += 1
        vendor = registry.crm(access.provider)
        crm = vendor.crm(self.rt.config, token=access.token, external_id=access.external_id,
                         instance_url=access.instance_url, overrides=access.overrides, limiter=self.rt.rate_limiter)
        crm.access = access
        return crm

    def call(self, crm, action):
        """``(action(crm), crm)``, refreshing the token first when it is about to expire, and once more
        when the CRM refuses it; the crm returned is the one to go on with."""
        if tokens.expiring(crm.access.expires_at):
            crm = self._renewed(crm)
        try:
            return action(crm), crm
        except CrmError as exc:
            if not exc.token_expired:
                raise
            refused = exc
        try:
            crm = self._renewed(crm)
        except CrmError as exc:
            raise CrmError(f"{refused}; {exc}", status=exc.status, retryable=exc.retryable,
                           retry_after=exc.retry_after) from None
        return action(crm), crm

    def _renewed(self, crm):
        access = crm.access
        tokens.refresh(self.rt, access.installation_id, access.token)
        with self._lock:
            if self._access.get(access.sub_account_id) is access:
                del self._access[access.sub_account_id]
        return self.port(access.sub_account_id)

    def _open_new(self, sub_account_id: int) -> Access:
        with self.rt.sessions() as s:
            return self._open(s, sub_account_id)

    def _open(self, s, sub_account_id: int) -> Access:
        sub = s.get(SubAccount, sub_account_id)
        if sub is None:
            raise CrmError(f"sub-account {sub_account_id} does not exist")
        if registry.crm(sub.provider) is None:
            raise CrmError(f"sub-account {sub_account_id} has no CRM ({registry.get(sub.provider).name} number)")
        inst = s.scalar(select(Installation).where(Installation.sub_account_id == sub.id,
                                                   Installation.provider == sub.provider))
        if inst is None:
            raise CrmError(f"sub-account {sub.id} has no {sub.provider} installation (install the app, or add a token)")
        overrides = s.scalar(select(WorkflowSetting.settings).where(
            WorkflowSetting.sub_account_id == sub.id, WorkflowSetting.workflow == CRM_SETTINGS)) or {}
        return Access(sub.id, sub.provider, sub.external_id, inst.id, self.rt.vault.open(inst.access_token),
                      inst.instance_url, dict(overrides),
                      inst.expires_at if inst.kind == "oauth" and inst.refresh_token else None)
