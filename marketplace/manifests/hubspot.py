"""Ringback's HubSpot app as a developer project on HubSpot's current platform (2026.03).

HubSpot closed the creation of legacy public apps on 2026-06-23 and sunset classic CRM cards on
2026-10-31: an app is now a project folder that `hs project upload` sends to HubSpot, with an
`hsproject.json` and one `*-hsmeta.json` file per feature under `src/app/`.
https://developers.hubspot.com/docs/apps/developer-platform/build-apps/app-configuration

What this project declares, Ringback handles: the webhooks (calls created and their status and
disposition changes, meetings created and their outcome changes, deals moved to another stage),
the two workflow actions (integration.actions), the contact/deal card and the app settings page
(UI extensions built on @hubspot/ui-extensions that talk to Ringback with hubspot.fetch, which
HubSpot signs like a webhook).
"""
from __future__ import annotations

import json

from .. import apps

PLATFORM_VERSION = "2026.03"  # the newest HubSpot's own project-parsing-lib supports as stable
PROJECT_NAME = "ringback"
# (objectType, subscriptionType, propertyName): each one handled by connectors.hubspot.webhook.
SUBSCRIPTIONS = [
    ("call", "object.creation", None),
    ("call", "object.propertyChange", "hs_call_status"),
    ("call", "object.propertyChange", "hs_call_disposition"),
    ("meeting", "object.creation", None),
    ("meeting", "object.propertyChange", "hs_meeting_outcome"),
    ("deal", "object.propertyChange", "dealstage"),
]
UI_EXTENSIONS_VERSION = "^0.17.0"
REACT_VERSION = "18.3.1"


def _json(value) -> str:
    return json.dumps(value, indent=2) + "\n"


def files(base_url: str, *, actions: dict[str, str], support_email: str) -> dict[str, str]:
    """{path inside the project folder: text}."""
    out = {
        "hsproject.json": _json({"name": PROJECT_NAME, "srcDir": "src", "platformVersion": PLATFORM_VERSION}),
        "src/app/app-hsmeta.json": _json({"uid": "ringback_app", "type": "app", "config": {
            "name": "Ringback - Missed Call Text Back",
            "description": "Texts back the callers a business misses, handles their replies and moves a deal through "
                           "a Missed Call Recovery pipeline, with every step on the contact.",
            "distribution": "marketplace",
            "auth": {"type": "oauth", "redirectUrls": [apps.redirect_url(base_url, "hubspot")],
                     "requiredScopes": apps.HUBSPOT_REQUIRED_SCOPES, "optionalScopes": apps.HUBSPOT_OPTIONAL_SCOPES,
                     "conditionallyRequiredScopes": []},
            # The card and the settings page call Ringback with hubspot.fetch: only these URLs.
            "permittedUrls": {"fetch": [base_url], "iframe": [base_url], "img": []},
            "support": {"supportEmail": support_email, "documentationUrl": f"{base_url}/",
                        "supportUrl": f"{base_url}/"},
        }}),
        "src/app/webhooks/webhooks-hsmeta.json": _json({"uid": "ringback_webhooks", "type": "webhooks", "config": {
            "settings": {"targetUrl": f"{base_url}/webhooks/hubspot", "maxConcurrentRequests": 10},
            "subscriptions": {"crmObjects": [
                {"subscriptionType": kind, "objectType": obj, **({"propertyName": prop} if prop else {}),
                 "active": True} for obj, kind, prop in SUBSCRIPTIONS]},
        }}),
    }
    descriptions = {"send_text_back": "Text the contact back as if Ringback had missed their call (opt-outs, hours "
                                      "and repeat callers respected).",
                    "stop_followups": "Close the contact's open recovery and cancel the texts Ringback still has "
                                      "scheduled for them."}
    for key, name in actions.items():
        out[f"src/app/workflow-actions/{key.replace('_', '-')}-hsmeta.json"] = _json({
            "uid": f"ringback_{key}", "type": "workflow-action", "config": {
                "actionUrl": f"{base_url}/hubspot/actions/{key}", "isPublished": True,
                "supportedClients": [{"client": "WORKFLOWS"}], "inputFields": [],
                "outputFields": [{"typeDefinition": {"name": "ringback_status", "type": "string",
                                                     "fieldType": "text"}}],
                "labels": {"en": {"actionName": name, "actionDescription": descriptions.get(key, name),
                                  "outputFieldLabels": {"ringback_status": "Ringback status"}}},
                "objectTypes": ["CONTACT"]}})
    package = _json({"name": "ringback-hubspot-extensions", "version": "1.0.0", "private": True, "type": "module",
                     "dependencies": {"@hubspot/ui-extensions": UI_EXTENSIONS_VERSION, "react": REACT_VERSION}})
    out["src/app/cards/recovery-card-hsmeta.json"] = _json({"uid": "ringback_recovery_card", "type": "card", "config": {
        "name": "Ringback", "location": "crm.record.tab", "entrypoint": "/app/cards/RecoveryCard.jsx",
        "objectTypes": ["contacts", "deals"]}})
    out["src/app/cards/package.json"] = package
    out["src/app/cards/RecoveryCard.jsx"] = CARD.replace("@BASE_URL@", base_url)
    out["src/app/settings/settings-hsmeta.json"] = _json({"uid": "ringback_settings", "type": "settings", "config": {
        "entrypoint": "/app/settings/SettingsPage.jsx"}})
    out["src/app/settings/package.json"] = package
    out["src/app/settings/SettingsPage.jsx"] = SETTINGS.replace("@BASE_URL@", base_url)
    return out


# The card on contacts and deals: the recovery's state, its texts and booking, and a link into
# Ringback's settings page. Data comes from GET /hubspot/extension/recovery (signed by HubSpot).
CARD = """import React, { useEffect, useState } from "react";
import { Alert, Divider, EmptyState, Link, LoadingSpinner, Text, Tile, hubspot } from "@hubspot/ui-extensions";

const RINGBACK = "@BASE_URL@";

hubspot.extend(({ context }) => <RecoveryCard context={context} />);

function RecoveryCard({ context }) {
  const [state, setState] = useState({ loading: true });
  useEffect(() => {
    const query = new URLSearchParams({
      objectType: context.crm.objectTypeId,
      objectId: String(context.crm.objectId),
    });
    hubspot
      .fetch(`${RINGBACK}/hubspot/extension/recovery?${query}`, { method: "GET", timeout: 10000 })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => setState(ok ? { loading: false, data: body } : { loading: false, error: body.error }))
      .catch(() => setState({ loading: false, error: "Ringback could not be reached." }));
  }, [context.crm.objectId]);

  if (state.loading) return <LoadingSpinner label="Asking Ringback" />;
  if (state.error) return <Alert title="Ringback" variant="error">{state.error}</Alert>;
  const { recoveries, problem, settings_url } = state.data;
  return (
    <>
      {problem && <Alert title="Not texting" variant="warning">{problem}</Alert>}
      {recoveries.length === 0 && (
        <EmptyState title="No missed calls" layout="vertical">
          <Text>Ringback has not texted this caller back.</Text>
        </EmptyState>
      )}
      {recoveries.map((r) => (
        <Tile key={r.id}>
          <Text format={{ fontWeight: "bold" }}>{r.state_label} (missed {r.opened_at})</Text>
          {r.texts.map((t) => (
            <Text key={t.at} variant="microcopy">{t.direction === "outbound" ? "Ringback" : "Caller"}: {t.body} ({t.status})</Text>
          ))}
          {r.booked_at && <Text>Booked {r.booked_at}{r.value ? `, ${r.value}` : ""}</Text>}
        </Tile>
      ))}
      <Divider />
      <Link href={settings_url}>Ringback settings</Link>
    </>
  );
}
"""

# The app's settings page in HubSpot: switch workflows on and off, edit the texts, and see what
# stops texting. GET/POST /hubspot/extension/settings (signed by HubSpot).
SETTINGS = """import React, { useEffect, useState } from "react";
import { Alert, Button, Flex, LoadingSpinner, Text, TextArea, Toggle, hubspot } from "@hubspot/ui-extensions";

const RINGBACK = "@BASE_URL@";

hubspot.extend(() => <SettingsPage />);

function SettingsPage() {
  const [state, setState] = useState({ loading: true });
  const [saved, setSaved] = useState(null);
  const load = () =>
    hubspot
      .fetch(`${RINGBACK}/hubspot/extension/settings`, { method: "GET", timeout: 10000 })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => setState(ok ? { loading: false, data: body } : { loading: false, error: body.error }))
      .catch(() => setState({ loading: false, error: "Ringback could not be reached." }));
  useEffect(() => { load(); }, []);

  if (state.loading) return <LoadingSpinner label="Asking Ringback" />;
  if (state.error) return <Alert title="Ringback" variant="error">{state.error}</Alert>;
  const { workflows, templates, problem } = state.data;
  const save = (change) =>
    hubspot
      .fetch(`${RINGBACK}/hubspot/extension/settings`, { method: "POST", body: change, timeout: 10000 })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => { setSaved(ok ? "Saved." : body.error); if (ok) load(); });
  return (
    <Flex direction="column" gap="md">
      {problem && <Alert title="Not texting" variant="warning">{problem}</Alert>}
      {saved && <Text>{saved}</Text>}
      {workflows.map((w) => (
        <Toggle key={w.key} label={w.label} checked={w.enabled}
                onChange={(on) => save({ workflows: { [w.key]: on } })} />
      ))}
      {templates.map((t) => (
        <TextArea key={t.key} label={t.label} name={t.key} value={t.text}
                  onBlur={(text) => save({ templates: { [t.key]: text } })} />
      ))}
      <Button onClick={load}>Reload</Button>
    </Flex>
  );
}
"""
