"""CRM access tokens: refreshed once when the CRM says they expired, single-flight.

GoHighLevel's refresh tokens are single-use: each refresh returns a new pair and kills the
old refresh token. Two workers refreshing at once would lock the location out, so a refresh
happens under a lock on the installation row (PostgreSQL: SELECT ... FOR UPDATE; SQLite:
the database's write lock), re-reads the row first (another process may have refreshed
already: then its token is used), and commits the new pair before anyone uses it.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from connectors.base import CrmError
from connectors.ghl.oauth import refresh as ghl_refresh

from .db import transaction
from .models import Installation, utcnow

log = logging.getLogger("ringback.tokens")


def refresh(rt, installation_id: int, stale_access_token: str) -> str:
    """A fresh access token for the installation whose ``stale_access_token`` was refused."""
    with transaction(rt.sessions) as s:
        inst = s.get(Installation, installation_id, with_for_update=True, populate_existing=True)
        current = rt.vault.open(inst.access_token)
        if current != stale_access_token:
            return current  # another worker refreshed while this one waited for the lock
        if inst.kind != "oauth" or not inst.refresh_token:
            raise CrmError(f"{inst.provider} refused the token and it cannot be refreshed ({inst.kind}): "
                           "reinstall the app or give a new token", status=401)
        if inst.provider != "ghl":
            raise CrmError(f"no token refresh for {inst.provider} yet", status=401)
        pair = ghl_refresh(rt.config.ghl_api_url, rt.config.ghl_client_id, rt.config.ghl_client_secret,
                           rt.vault.open(inst.refresh_token))
        inst.access_token = rt.vault.seal(pair["access_token"])
        inst.refresh_token = rt.vault.seal(pair["refresh_token"])
        inst.expires_at = utcnow() + timedelta(seconds=int(pair.get("expires_in") or 86399))
        log.info("refreshed the %s token of installation %s", inst.provider, installation_id)
        return pair["access_token"]
