"""`ringback manifests`: the app definitions each marketplace reads, filled in for a deployment and
checked by the vendors' own tooling (HubSpot's project parser and an extension bundle build,
Salesforce's source-deploy-retrieve), with the scopes and redirect URLs the installs really use."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner
from defusedxml import ElementTree

from integration.actions import ACTIONS, TRIGGERS
from integration.cli import main
from marketplace import apps, manifests
from tests import contracts
from tests.conftest import PUBLIC_URL

SF = "{http://soap.sforce.com/2006/04/metadata}"
TOOLS = Path(__file__).with_name("vendor_tools")
BASE = "https://rb.acme-agency.com"


def _run(config, monkeypatch, tmp_path, *args, out="out"):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    for name in ("RINGBACK_SECRET_KEY", "RINGBACK_ENCRYPTION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner().invoke(main, ["manifests", "--out", str(tmp_path / out), *args])


def vendor_tool(script: str, project: Path, out: Path) -> dict:
    """Run one of tests/vendor_tools/*.mjs (the vendor's own library) on a generated project."""
    if not (TOOLS / "node_modules").is_dir() or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the vendors' tooling is not installed (scripts/setup test installs it with npm)")
        pytest.skip("the vendors' tooling is not installed (scripts/setup test installs it with npm)")
    done = subprocess.run(["node", str(TOOLS / script), str(project), str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def written(config, rt, salesforce_sub, monkeypatch, tmp_path):
    """`ringback manifests --base-url https://rb.acme-agency.com` with one Salesforce org installed."""
    result = _run(config, monkeypatch, tmp_path, "--base-url", BASE)
    assert result.exit_code == 0, result.output
    assert f"file(s) written and valid for {BASE}" in result.output
    return tmp_path / "out"


def test_the_hubspot_project_is_one_hubspots_own_parser_accepts_with_every_feature(written, tmp_path):
    project = written / "hubspot"
    assert json.loads((project / "hsproject.json").read_text())["platformVersion"] == "2026.03"
    found = vendor_tool("hubspot_project.mjs", project, tmp_path / "bundles")
    assert found["problems"] == []
    assert sorted(found["components"].values()) == ["app", "card", "settings", "webhooks", "workflow-action",
                                                    "workflow-action"]
    # The card and the settings page are real UI extensions: their bundles build.
    assert set(found["bundles"]) == {"ringback_recovery_card", "ringback_settings"}
    bundle = (tmp_path / "bundles" / "ringback_recovery_card.js").read_text()
    assert f'"{BASE}"' in bundle and "/hubspot/extension/recovery?" in bundle
    hooks = json.loads((project / "src/app/webhooks/webhooks-hsmeta.json").read_text())["config"]
    assert hooks["settings"]["targetUrl"] == f"{BASE}/webhooks/hubspot"
    subscribed = {(s["objectType"], s["subscriptionType"], s.get("propertyName"))
                  for s in hooks["subscriptions"]["crmObjects"]}
    # Calls for the missed calls; meetings and deal stages for the bookings the README promises.
    assert {("call", "object.creation", None), ("meeting", "object.creation", None),
            ("deal", "object.propertyChange", "dealstage")} <= subscribed


def test_a_broken_hubspot_project_is_refused_by_hubspots_parser(written, tmp_path):
    project = tmp_path / "broken"
    shutil.copytree(written / "hubspot", project)
    card = project / "src/app/cards/recovery-card-hsmeta.json"
    meta = json.loads(card.read_text())
    meta["uid"] = "ringback card!"
    card.write_text(json.dumps(meta))
    (project / "src/app/settings/SettingsPage.jsx").write_text("import { Nope } from './missing.js';\n")
    found = vendor_tool("hubspot_project.mjs", project, tmp_path / "bundles")
    assert any(p.startswith("ringback card!:") for p in found["problems"])
    assert any("ringback_settings: bundle" in p for p in found["problems"])


def test_the_salesforce_project_converts_with_salesforces_own_library(written, salesforce_sub, tmp_path):
    project = written / f"salesforce-{salesforce_sub.external_id}"
    found = vendor_tool("salesforce_project.mjs", project, tmp_path / "mdapi")
    assert found["problems"] == []
    types = found["types"]
    assert types["ExternalClientApplication"] == ["Ringback"]
    for plugin in ("ExtlClntAppOauthSettings", "ExtlClntAppGlobalOauthSettings", "ExtlClntAppOauthConfigurablePolicies",
                   "ExtlClntAppCanvasSettings"):
        assert types[plugin] == ["Ringback"], plugin
    assert "ConnectedApp" not in types  # restricted since Spring '26
    assert sorted(types["Flow"]) == ["Ringback_Booking_Event", "Ringback_Call_Task", "Ringback_Opportunity_Stage"]
    assert sorted(types["WorkflowOutboundMessage"]) == ["Event.Ringback_Booking_Event",
                                                        "Opportunity.Ringback_Opportunity_Stage",
                                                        "Task.Ringback_Call_Task"]
    assert sorted(types["CustomField"]) == ["Lead.Ringback_Text_Status__c", "Opportunity.Ringback_Text_Status__c"]
    assert types["PermissionSet"] == ["Ringback_Integration"]
    package = ElementTree.parse(tmp_path / "mdapi" / "package.xml").getroot()
    assert "ExternalClientApplication" in {t.findtext(f"{SF}name") for t in package.findall(f"{SF}types")}
    # Every Outbound Message goes to the org's own secret URL; the settings page opens in Canvas.
    from tests.conftest import SF_SECRET
    for obj in ("Task", "Event", "Opportunity"):
        msg = ElementTree.parse(project / f"force-app/main/default/workflows/{obj}.workflow-meta.xml").getroot()
        assert msg.findtext(f"{SF}outboundMessages/{SF}endpointUrl") == f"{BASE}/webhooks/salesforce/{SF_SECRET}"
    canvas = ElementTree.parse(
        project / "force-app/main/default/extlClntAppCanvasSettings/Ringback.ecaCanvas-meta.xml").getroot()
    assert (canvas.findtext(f"{SF}accessMethod"), canvas.findtext(f"{SF}canvasUrl")) == ("Post",
                                                                                        f"{BASE}/sso/salesforce")


def test_the_ghl_setup_sheet_names_every_value_to_enter(written, config):
    sheet = (written / "ghl-setup.md").read_text()
    assert f"| Redirect URL | `{BASE}/oauth/ghl/callback` |" in sheet
    assert f"| Default Webhook URL | `{BASE}/webhooks/ghl` |" in sheet
    assert f"| Scopes | `{' '.join(apps.GHL_SCOPES)}` |" in sheet
    from integration.actions import action_secret
    secret = action_secret(config.__class__.from_env({"DATABASE_URL": config.database_url,
                                                      "RINGBACK_DATA_DIR": str(config.data_dir)}))
    for key in ACTIONS:
        assert f"| Action URL (POST) | `{BASE}/ghl/actions/{key}` |" in sheet
    assert sheet.count(f"| Header X-Ringback-Secret | `{secret}` |") == len(ACTIONS) + len(TRIGGERS)
    # In the developer UI's order: auth before webhooks before the custom page before the actions.
    order = [sheet.index(s) for s in ("## Auth", "## Webhooks", "## Custom page", "## Workflow action")]
    assert order == sorted(order)


def test_the_installs_ask_for_exactly_what_the_definitions_declare(config, rt, client, monkeypatch, tmp_path):
    """One source of truth: the OAuth install flows and the generated definitions agree."""
    from dataclasses import replace
    rt.config = replace(rt.config, ghl_client_id="ghl-id", hubspot_client_id="hs-id", salesforce_client_id="sf-id")
    written = manifests.render(PUBLIC_URL, tmp_path / "defs", action_secret="s", salesforce_orgs={},
                               routes=_routes(client), actions=ACTIONS, triggers=TRIGGERS, allow_http=True)
    assert written.problems == []
    defs = tmp_path / "defs"

    def asked(provider):
        target = client.get(f"/oauth/{provider}/install").headers["Location"]
        return {k: v[0] for k, v in parse_qs(urlparse(target).query).items()}

    hubspot_app = json.loads((defs / "hubspot/src/app/app-hsmeta.json").read_text())["config"]["auth"]
    hs = asked("hubspot")
    assert hs["scope"].split() == hubspot_app["requiredScopes"] and hs["redirect_uri"] in hubspot_app["redirectUrls"]
    ghl = asked("ghl")
    sheet = (defs / "ghl-setup.md").read_text()
    assert f"| Scopes | `{ghl['scope']}` |" in sheet and f"| Redirect URL | `{ghl['redirect_uri']}` |" in sheet
    sf = asked("salesforce")
    folder = defs / "salesforce/force-app/main/default"
    declared = ElementTree.parse(folder / "extlClntAppOauthSettings/Ringback.ecaOauth-meta.xml").getroot()
    assert [apps.SALESFORCE_ECA_SCOPES[s] for s in sf["scope"].split()] == \
        declared.findtext(f"{SF}commaSeparatedOauthScopes").split(", ")
    callback = ElementTree.parse(folder / "extlClntAppGlobalOauthSets/Ringback.ecaGlblOauth-meta.xml").getroot()
    assert callback.findtext(f"{SF}callbackUrl") == sf["redirect_uri"]


def _routes(client) -> set[str]:
    return {re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "[^/]+", rule.rule) for rule in client.application.url_map.iter_rules()}


def test_every_ghl_scope_asked_for_is_one_ghl_documents():
    scopes_doc = contracts.require("ghl/docs/oauth/Scopes.md")
    documented = set(re.findall(r"^\| ([a-z./A-Z-]+)\s+\|", scopes_doc.read_text(), re.M))
    # Some scopes appear only on the endpoints that need them (phonenumbers.read: List active
    # numbers, apps/phone-system.json), not in Scopes.md: those count as documented too.
    for spec in contracts.require("ghl/apps/phone-system.json").parent.glob("*.json"):
        for item in json.loads(spec.read_text()).get("paths", {}).values():
            for op in (v for v in item.values() if isinstance(v, dict)):
                for requirement in op.get("security") or []:
                    documented.update(scope for scopes in requirement.values() for scope in scopes)
    assert set(apps.GHL_SCOPES) <= documented, set(apps.GHL_SCOPES) - documented


@pytest.mark.parametrize("args, says", [
    (["--base-url", "http://rb.acme-agency.com"], "must be https"),
    (["--base-url", "https://rb.acme-agency.com/ringback"], "without a path"),
    (["--base-url", "https://rb.acme-agency.com/?x=1"], "no quotes, spaces, query or fragment"),
])
def test_a_bad_base_url_is_refused_and_nothing_is_written(config, rt, monkeypatch, tmp_path, args, says):
    refused = _run(config, monkeypatch, tmp_path, *args)
    assert refused.exit_code == 1 and says in refused.output
    assert not (tmp_path / "out").exists()


def test_plain_http_is_written_when_allowed(config, rt, monkeypatch, tmp_path):
    allowed = _run(config, monkeypatch, tmp_path, "--base-url", "http://127.0.0.1:5000", "--allow-http")
    assert allowed.exit_code == 0 and "no Salesforce org is installed yet" in allowed.output
    assert (tmp_path / "out/salesforce/sfdx-project.json").is_file()


def test_a_folder_holding_other_files_is_refused_and_an_earlier_output_replaced(config, rt, monkeypatch, tmp_path):
    theirs = tmp_path / "out"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    refused = _run(config, monkeypatch, tmp_path, "--base-url", BASE)
    assert refused.exit_code == 1 and "holds other files" in refused.output
    assert [p.name for p in theirs.iterdir()] == ["notes.txt"]
    assert _run(config, monkeypatch, tmp_path, "--base-url", BASE, out="ours").exit_code == 0
    (tmp_path / "ours/hubspot/stale.json").write_text("{}")
    again = _run(config, monkeypatch, tmp_path, "--base-url", "https://rb2.acme-agency.com", out="ours")
    assert again.exit_code == 0, again.output
    assert not (tmp_path / "ours/hubspot/stale.json").exists()
    assert "https://rb2.acme-agency.com/webhooks/ghl" in (tmp_path / "ours/ghl-setup.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ours-")]  # no staging folder left behind


def test_validation_names_what_ringback_does_not_serve_and_writes_nothing(tmp_path):
    routes = {"/webhooks/ghl", "/oauth/[^/]+/callback", "/embed/ghl", "/ghl/actions/[^/]+", "/ghl/triggers",
              "/webhooks/hubspot", "/hubspot/actions/[^/]+", "/sso/salesforce", "/webhooks/salesforce/[^/]+"}
    written = manifests.render("https://rb.example.com", tmp_path / "ok", action_secret="s", salesforce_orgs={},
                               routes=routes, actions=ACTIONS, triggers=TRIGGERS)
    assert written.problems == []
    broken = manifests.render("https://rb.example.com", tmp_path / "no", action_secret="s", salesforce_orgs={},
                              routes=routes - {"/webhooks/hubspot", "/sso/salesforce"}, actions=ACTIONS,
                              triggers=TRIGGERS)
    assert "hubspot webhooks: Ringback serves no /webhooks/hubspot" in broken.problems
    assert "salesforce Canvas URL: Ringback serves no /sso/salesforce" in broken.problems
    assert not (tmp_path / "no").exists()  # nothing is written when anything is wrong


def test_the_operator_page_shows_the_ghl_sheet_in_development_only(client, rt, config):
    import html
    from dataclasses import replace
    page = html.unescape(client.get("/setup/ghl").data.decode())
    assert f"{PUBLIC_URL}/oauth/ghl/callback" in page and f"{PUBLIC_URL}/webhooks/ghl" in page
    assert " ".join(apps.GHL_SCOPES) in page
    order = [page.index(s) for s in ("<h2>Auth</h2>", "<h2>Webhooks</h2>", "<h2>Custom page</h2>")]
    assert order == sorted(order)
    rt.config = replace(rt.config, env="production")
    hidden = client.get("/setup/ghl")
    assert hidden.status_code == 404 and b"X-Ringback-Secret" not in hidden.data
