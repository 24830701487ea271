"""What the host may ask of any vendor's provider object, with the answers most vendors give.
Each vendor's `connectors/<vendor>/provider.py` subclasses this and says where it differs, so a
generic module asks a question (``vendor.needs_instance_url``) instead of comparing vendor names."""
from __future__ import annotations


class Provider:
    key: str  # stored on sub-accounts, installations and events
    name: str  # as people know it
    account_noun = "account"  # what the vendor calls the account a sub-account is
    is_crm = False  # Ringback reads and writes its records
    sends_texts = False  # texts can go out through the vendor's own conversations
    has_workflow_triggers = False  # its workflows can subscribe to Ringback's triggers
    stage_needs_lookup = False  # a deal's new stage arrives as an id to look up
    exchanges_account_tokens = False  # an agency token is exchanged for each account's own
    client_id_setting: str | None = None  # the environment name of its OAuth client id
    known_by_number = False  # a sub-account is known by its phone number (no CRM account id)
    needs_instance_url = False  # each account answers on its own host
    # Its webhooks cannot be signed, so each account gets a secret URL of its own.
    secret_webhook_url = False
    # Its marketplace may open our OAuth callback without an install started here (no state).
    installs_from_marketplace = False
    # Its settings page opens on its own, with no signed request: its OAuth proves the account.
    signs_in_by_oauth = False
    # Where the vendor's own missed-call text-back is switched off, when it has one.
    own_text_back_setting: str | None = None
    # The answer that makes the vendor send a webhook again (when Ringback could not store it).
    retry_status = 503

    def logs_texts(self, config) -> bool:
        """Each text is also logged where the CRM shows conversations."""
        return False

    def source(self, external_id: str | None) -> str:
        """A sub-account's origin in a listing."""
        return f"{self.key} {external_id}"
