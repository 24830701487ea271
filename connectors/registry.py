"""Every vendor's provider object by its key: the one place the host looks a vendor up, instead
of comparing vendor names (Sentry-style: a provider per integration, its whole story in its
folder). A provider has `key`, `name`, `is_crm` and `parse_stored(kind, payload)`; a CRM's also
`client_id(config)`, `client_id_setting`, `authorize_url(config, redirect_uri, state)`,
`crm(config, token=, external_id=, instance_url=, overrides=, limiter=)` and
`refresh(config, refresh_token, user_type)`, `sends_texts` (texts can go out through the CRM's
own conversations), `stage_needs_lookup` (a deal's new stage arrives as an id to look up) and
`logs_texts(config)` (each text is also logged where the CRM shows conversations),
`has_workflow_triggers`, and where `sends_texts`: `text_sender(crm, contact_id)`."""
from __future__ import annotations

from .ghl.provider import PROVIDER as GHL
from .hubspot.provider import PROVIDER as HUBSPOT
from .salesforce.provider import PROVIDER as SALESFORCE
from .twilio.provider import PROVIDER as TWILIO

PROVIDERS = {p.key: p for p in (TWILIO, GHL, HUBSPOT, SALESFORCE)}
CRMS = {key: p for key, p in PROVIDERS.items() if p.is_crm}  # whose records Ringback reads and writes


def get(key: str):
    """The provider with this key; KeyError names the known ones."""
    try:
        return PROVIDERS[key]
    except KeyError:
        raise KeyError(f"no provider {key!r} (known: {', '.join(PROVIDERS)})") from None


def crm(key: str | None):
    """The CRM provider with this key, or None (a Twilio-number sub-account has no CRM)."""
    return CRMS.get(key or "")
