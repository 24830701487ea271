"""What Ringback's app asks each marketplace for, gathered for the app definitions: the scopes
live with each vendor's OAuth code in connectors/ (which the install flows use), so the scopes a
customer consents to are the scopes the registered app declares."""
from __future__ import annotations

from connectors.ghl.oauth import SCOPES as _GHL_SCOPES
from connectors.hubspot.oauth import OPTIONAL_SCOPES as HUBSPOT_OPTIONAL_SCOPES
from connectors.hubspot.oauth import REQUIRED_SCOPES as HUBSPOT_REQUIRED_SCOPES
from connectors.salesforce.oauth import ECA_SCOPES as SALESFORCE_ECA_SCOPES
from connectors.salesforce.oauth import SCOPES as SALESFORCE_SCOPES

GHL_SCOPES = _GHL_SCOPES.split()

__all__ = ["GHL_SCOPES", "HUBSPOT_OPTIONAL_SCOPES", "HUBSPOT_REQUIRED_SCOPES", "SALESFORCE_ECA_SCOPES",
           "SALESFORCE_SCOPES", "redirect_url"]


def redirect_url(base_url: str, provider: str) -> str:
    return f"{base_url.rstrip('/')}/oauth/{provider}/callback"
