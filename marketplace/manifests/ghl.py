"""GoHighLevel: a setup sheet, not a pretend file.

GoHighLevel's marketplace apps are configured in its developer UI (marketplace.gohighlevel.com,
My Apps); no file format its own tooling imports could be confirmed from its public material,
so `ringback manifests` writes the exact values to enter, field by field, in the order the UI
asks for them. The same values are shown on the operator page (GET /setup/ghl).
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import apps

# The events Ringback handles (connectors.ghl.webhook.parse); anything else is stored as ignored.
WEBHOOK_EVENTS = ["InboundMessage", "OutboundMessage", "AppointmentCreate", "AppointmentUpdate", "INSTALL",
                  "UNINSTALL"]


@dataclass(frozen=True)
class Field:
    section: str
    name: str
    value: str
    note: str = ""


def fields(base_url: str, *, action_secret: str, actions: dict[str, str], triggers: dict[str, str]) -> list[Field]:
    out = [
        Field("Basic info", "App name", "Ringback - Missed Call Text Back"),
        Field("Basic info", "App type", "Public"),
        Field("Basic info", "Distribution type", "Agency & Sub-account",
              "agencies install once for every location; bulk install on"),
        Field("Auth", "Redirect URL", apps.redirect_url(base_url, "ghl")),
        Field("Auth", "Scopes", " ".join(apps.GHL_SCOPES), "every one; Ringback asks for exactly these at install"),
        Field("Auth", "Client keys", "Add a client key; set GHL_CLIENT_ID and GHL_CLIENT_SECRET to it"),
        Field("Auth", "Shared Secret (SSO key)", "Generate it; set GHL_SSO_KEY to it",
              "decrypts the user context Ringback's custom page asks GoHighLevel for"),
        Field("Webhooks", "Default Webhook URL", f"{base_url}/webhooks/ghl"),
        Field("Webhooks", "Events", ", ".join(WEBHOOK_EVENTS),
              "GoHighLevel signs every app's webhooks with one key: set GHL_APP_ID to this app's id so that "
              "INSTALL and UNINSTALL are about this app"),
        Field("Custom page", "Sub-account menu: URL", f"{base_url}/embed/ghl", "title: Ringback"),
        Field("Custom page", "Agency menu: URL", f"{base_url}/embed/ghl", "title: Ringback"),
        Field("Conversation provider", "Type", "SMS",
              "optional: texts sent through Twilio then show in the contact's conversation; set "
              "GHL_CONVERSATION_PROVIDER_ID to the provider's id"),
        Field("Conversation provider", "Delivery URL", f"{base_url}/webhooks/ghl"),
    ]
    for key, name in actions.items():
        out += [Field(f"Workflow action: {name}", "Key", key),
                Field(f"Workflow action: {name}", "Action URL (POST)", f"{base_url}/ghl/actions/{key}"),
                Field(f"Workflow action: {name}", "Header X-Ringback-Secret", action_secret,
                      "GoHighLevel signs no action call: this header is how Ringback knows it is its own app"),
                Field(f"Workflow action: {name}", "Billing", "free",
                      "GoHighLevel can bill premium actions per execution; Ringback's are not premium")]
    for key, name in triggers.items():
        out += [Field(f"Workflow trigger: {name}", "Key", key),
                Field(f"Workflow trigger: {name}", "Subscription URL", f"{base_url}/ghl/triggers"),
                Field(f"Workflow trigger: {name}", "Header X-Ringback-Secret", action_secret)]
    return out


def sheet(base_url: str, **kwargs) -> str:
    """The fields as a Markdown page, section by section in the developer UI's order."""
    lines = ["# Ringback in GoHighLevel's marketplace: the values to enter", "",
             f"For the deployment at {base_url}. In marketplace.gohighlevel.com, My Apps, create an app and fill "
             "in each section below in order.", ""]
    section = None
    for f in fields(base_url, **kwargs):
        if f.section != section:
            section = f.section
            lines += ["", f"## {section}", "", "| Field | Value | Note |", "| --- | --- | --- |"]
        lines.append(f"| {f.name} | `{f.value}` | {f.note} |")
    return "\n".join(lines) + "\n"
