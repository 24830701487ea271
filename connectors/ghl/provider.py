"""GoHighLevel behind one object: what the host asks of a vendor (see connectors/registry.py)."""
from __future__ import annotations

from ..provider import Provider
from . import oauth, webhook
from .client import GHL_API, GhlClient
from .conversations import GhlConversationSender
from .crm import GhlCrm


class GhlProvider(Provider):
    key = "ghl"
    name = "GoHighLevel"
    account_noun = "location"  # what the vendor calls the account a sub-account is
    is_crm = True  # Ringback writes its contacts, opportunities, notes and tasks
    # A location can text its callers through GoHighLevel's own conversations (its inbox, its number).
    sends_texts = True
    # Its workflows can subscribe to Ringback's triggers (integration.actions).
    has_workflow_triggers = True

    client_id_setting = "GHL_CLIENT_ID"

    def text_sender(self, crm, contact_id: str | None):
        """The SMS sender through the location's own conversations (its inbox, its number)."""
        return GhlConversationSender(crm.client, contact_id)

    # Deal stages arrive by name in GoHighLevel's events: nothing to look up (stage_needs_lookup).
    # An install can start in the marketplace, which then opens our callback with no state.
    installs_from_marketplace = True
    # GoHighLevel retries a webhook only when it is answered 429 (../shared/PROVIDERS.md: every
    # ~10 minutes, 6 times); a 5xx loses the event.
    retry_status = 429
    # GoHighLevel has a Missed Call Text Back of its own: on with Ringback's, callers get two texts.
    own_text_back_setting = "Settings > Phone Numbers > Missed Call Text Back"

    def logs_texts(self, config) -> bool:
        """Texts are logged in the contact's conversation through the app's conversation
        provider, so only when GHL_CONVERSATION_PROVIDER_ID is set."""
        return bool(config is not None and config.ghl_conversation_provider_id)

    # An agency install holds one token; each location's own is exchanged from it (no refresh
    # token: exchanged again when it runs out).
    exchanges_account_tokens = True

    def account_token(self, config, agency_token: str, agency_ref: str, account_ref: str) -> dict:
        return oauth.location_token(config.ghl_api_url, agency_token, agency_ref, account_ref)

    def client_id(self, config) -> str | None:
        return config.ghl_client_id

    def authorize_url(self, config, redirect_uri: str, state: str) -> str:
        return oauth.authorize_url(config.ghl_client_id, redirect_uri, state, config.ghl_marketplace_url)

    def crm(self, config, *, token: str, external_id: str, instance_url: str | None, overrides: dict, limiter):
        client = GhlClient(token, external_id, base_url=config.ghl_api_url or GHL_API, limiter=limiter)
        return GhlCrm(client, overrides, conversation_provider_id=config.ghl_conversation_provider_id)

    def refresh(self, config, refresh_token: str, user_type: str | None) -> dict:
        # Single-use refresh tokens: the caller stores the new pair before anyone uses it.
        return oauth.refresh(config.ghl_api_url, config.ghl_client_id, config.ghl_client_secret, refresh_token,
                             user_type or "Location")

    def parse_stored(self, kind: str, payload: dict):
        return webhook.parse(payload)


PROVIDER = GhlProvider()
