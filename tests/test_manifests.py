"""`ringback manifests`: the marketplace files, filled in for a deployment, and checked."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner
from defusedxml import ElementTree

from connectors.ghl.oauth import SCOPES as GHL_SCOPES
from integration.cli import main
from marketplace import manifests
from tests import contracts

SF = "{http://soap.sforce.com/2006/04/metadata}"


def _run(config, monkeypatch, tmp_path, *args):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    for name in ("RINGBACK_SECRET_KEY", "RINGBACK_ENCRYPTION_KEY", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner().invoke(main, ["manifests", "--out", str(tmp_path / "out"), *args])


def test_manifests_are_filled_in_for_the_deployment_and_valid(config, rt, salesforce_sub, monkeypatch, tmp_path):
    result = _run(config, monkeypatch, tmp_path, "--base-url", "https://rb.acme-agency.com")
    assert result.exit_code == 0, result.output
    assert "file(s) written and valid for https://rb.acme-agency.com" in result.output
    out = tmp_path / "out"
    ghl = json.loads((out / "ghl-app.json").read_text())
    assert ghl["webhook"]["url"] == "https://rb.acme-agency.com/webhooks/ghl"
    assert ghl["auth"]["redirectUrls"] == ["https://rb.acme-agency.com/oauth/ghl/callback"]
    assert ghl["auth"]["scopes"] == GHL_SCOPES.split()
    secret = ghl["workflowActions"][0]["headers"]["X-Ringback-Secret"]
    from integration.actions import action_secret
    assert secret == action_secret(config.__class__.from_env({"DATABASE_URL": config.database_url,
                                                              "RINGBACK_DATA_DIR": str(config.data_dir)}))
    # The org's own Outbound Message URL, with its secret, in its own folder.
    msg = ElementTree.parse(out / f"salesforce-{salesforce_sub.external_id}" / "Task.workflow-meta.xml").getroot()
    from tests.conftest import SF_SECRET
    assert msg.findtext(f"{SF}outboundMessages/{SF}endpointUrl") == f"https://rb.acme-agency.com/webhooks/salesforce/{SF_SECRET}"


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
    assert set(GHL_SCOPES.split()) <= documented, set(GHL_SCOPES.split()) - documented


def test_plain_http_is_refused_unless_allowed(config, rt, monkeypatch, tmp_path):
    refused = _run(config, monkeypatch, tmp_path, "--base-url", "http://rb.acme-agency.com")
    assert refused.exit_code == 1 and "must be https" in refused.output
    allowed = _run(config, monkeypatch, tmp_path, "--base-url", "http://127.0.0.1:5000", "--allow-http")
    assert allowed.exit_code == 0 and "no Salesforce org is installed yet" in allowed.output


def test_validation_names_a_url_ringback_does_not_serve(tmp_path):
    routes = {"/webhooks/ghl", "/oauth/[^/]+/callback", "/embed/ghl", "/ghl/actions/[^/]+", "/ghl/triggers",
              "/webhooks/hubspot", "/hubspot/card", "/hubspot/actions/[^/]+", "/sso/salesforce",
              "/webhooks/salesforce/[^/]+"}
    written = manifests.render("https://rb.example.com", tmp_path, action_secret="s", salesforce_orgs={},
                               routes=routes)
    assert written.problems == []
    ghl = json.loads((tmp_path / "ghl-app.json").read_text())
    ghl["webhook"]["url"] = "https://rb.example.com/webhooks/gohighlevel"
    ghl["workflowActions"][0]["key"] = "make_coffee"
    (tmp_path / "ghl-app.json").write_text(json.dumps(ghl))
    problems = manifests.validate(tmp_path, "https://rb.example.com", routes, placeholder_orgs=True)
    assert "ghl-app.json webhook: Ringback serves no /webhooks/gohighlevel" in problems
    assert "ghl-app.json: action 'make_coffee' is not Ringback's" in problems
