"""What Ringback's app asks each marketplace for, in one place: the OAuth install flows
(integration/routes/oauth.py) and the app definitions `ringback manifests` writes both read it,
so the scopes a customer consents to are the scopes the registered app declares."""
from __future__ import annotations

from connectors.ghl.oauth import SCOPES as _GHL_SCOPES

# https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/scopes
HUBSPOT_REQUIRED_SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read",
                           "crm.objects.deals.write", "crm.schemas.deals.read", "crm.schemas.deals.write", "automation"]
HUBSPOT_OPTIONAL_SCOPES: list[str] = []
GHL_SCOPES = _GHL_SCOPES.split()
# The OAuth `scope` values Ringback asks Salesforce for, and the same as the External Client
# App's OAuth settings name them.
SALESFORCE_SCOPES = ["api", "refresh_token"]
SALESFORCE_ECA_SCOPES = {"api": "Api", "refresh_token": "RefreshToken"}


def redirect_url(base_url: str, provider: str) -> str:
    return f"{base_url.rstrip('/')}/oauth/{provider}/callback"
