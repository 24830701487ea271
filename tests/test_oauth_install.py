"""Installing from each CRM's marketplace: OAuth against loopback authorize/token endpoints."""
from __future__ import annotations

import json
from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select, text

from integration.models import Agency, Installation, InboxEvent, Recovery, SubAccount, WorkflowSetting
from integration.settings_store import TEXT_BACK
from tests.commands import run_cli
from tests.conftest import PUBLIC_URL
from tests.marketplace import APP_ID, COMPANY, LOC_A, LOC_B, LOC_C, start_install
from tests.fakes.salesforce_api import ORG_ID
from tests.vendors.ghl import send, signed



@pytest.fixture
def marketplace(rt):
    """Ringback configured with the GoHighLevel app's id (agency installs list their locations with it)."""
    rt.config = replace(rt.config, ghl_app_id=APP_ID)
    return rt


_start = start_install


def _subs(rt):
    with rt.sessions() as s:
        return s.scalars(select(SubAccount).order_by(SubAccount.id)).all()


def _installations(rt):
    with rt.sessions() as s:
        return s.scalars(select(Installation).order_by(Installation.id)).all()


def test_a_location_install_lands_on_its_settings_page_with_sealed_tokens(client, rt, marketplace, fake_ghl,
                                                                          db_url):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing", timezone="America/Denver")
    query = _start(client, "ghl")
    assert query["_target"].startswith("https://marketplace.gohighlevel.com/v2/oauth/chooselocation?")
    assert query["redirect_uri"] == f"{PUBLIC_URL}/oauth/ghl/callback" and query["response_type"] == "code"
    assert "conversations/message.write" in query["scope"].split() and len(query["state"]) > 20
    code = fake_ghl.authorize(query["redirect_uri"], location_id=LOC_A)
    resp = client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}")
    [sub] = _subs(rt)
    assert resp.status_code == 302 and resp.headers["Location"] == f"/settings/{sub.id}?installed=1"
    assert (sub.name, sub.provider, sub.external_id, sub.timezone) == ("Acme Plumbing", "ghl", LOC_A, "America/Denver")
    [inst] = _installations(rt)
    assert (inst.kind, inst.user_type, inst.external_id) == ("oauth", "Location", LOC_A)
    assert rt.vault.open(inst.access_token) == fake_ghl.tokens[LOC_A]
    assert rt.vault.open(inst.refresh_token) in fake_ghl.refresh_tokens
    # The database holds no token in plain text, in any column of any row.
    with rt.engine.connect() as conn:
        dump = json.dumps([list(map(str, r)) for r in conn.execute(text("SELECT * FROM installations"))])
    assert fake_ghl.tokens[LOC_A] not in dump and rt.vault.open(inst.refresh_token) not in dump
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200 and b"Ringback for Acme Plumbing" in page.data and b"Ringback is installed" in page.data
    assert fake_ghl.tokens[LOC_A].encode() not in page.data  # never returned by any route


def test_an_agency_install_exchanges_a_token_for_each_installed_location(client, rt, marketplace, fake_ghl):
    for loc, name in ((LOC_A, "Acme Plumbing"), (LOC_B, "Bright Dental")):
        fake_ghl.add_location(loc, COMPANY, name)
    query = _start(client, "ghl")
    code = fake_ghl.authorize(query["redirect_uri"], company_id=COMPANY, locations=[LOC_A, LOC_B])
    resp = client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}")
    assert resp.status_code == 302
    assert [(s.name, s.external_id) for s in _subs(rt)] == [("Acme Plumbing", LOC_A), ("Bright Dental", LOC_B)]
    insts = _installations(rt)
    assert [(i.user_type, i.external_id, i.sub_account_id is None) for i in insts] == [
        ("Company", COMPANY, True), ("Location", LOC_A, False), ("Location", LOC_B, False)]
    assert fake_ghl.location_token_exchanges == 2
    assert rt.vault.open(insts[1].access_token) == fake_ghl.tokens[LOC_A]
    # The installer is an agency user: both sub-accounts, and the agency page lists them.
    agency = client.get("/agency")
    assert b"Acme Plumbing" in agency.data and b"Bright Dental" in agency.data
    assert client.get(f"/settings/{_subs(rt)[1].id}").status_code == 200


def test_a_location_added_later_arrives_by_install_webhook(client, rt, marketplace, fake_ghl, ghl_signing_keys):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    query = _start(client, "ghl")
    code = fake_ghl.authorize(query["redirect_uri"], company_id=COMPANY, locations=[LOC_A])
    client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}")
    fake_ghl.add_location(LOC_C, COMPANY, "Cedar Auto")
    fake_ghl.company_locations[COMPANY].append(LOC_C)
    body = _lifecycle("INSTALL", installType="Location", locationId=LOC_C, companyId=COMPANY)
    assert send(client, body, signed(body, ghl_signing_keys)).json == {"status": "accepted"}
    assert [s.name for s in _subs(rt)] == ["Acme Plumbing", "Cedar Auto"]
    with rt.sessions() as s:
        assert s.scalar(select(InboxEvent.result).order_by(InboxEvent.id.desc())).startswith(
            f"location {LOC_C} installed as sub-account")


def test_uninstall_deletes_tokens_stops_the_text_back_and_keeps_history(client, rt, marketplace, fake_ghl,
                                                                        ghl_signing_keys):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    query = _start(client, "ghl")
    client.get(f"/oauth/ghl/callback?code={fake_ghl.authorize(query['redirect_uri'], location_id=LOC_A)}"
               f"&state={query['state']}")
    [sub] = _subs(rt)
    with rt.sessions.begin() as s:
        s.add(Recovery(sub_account_id=sub.id, caller="+15125550123", state="texted", crm_refs={}))
    body = _lifecycle("UNINSTALL", locationId=LOC_A)
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    assert _installations(rt) == []
    with rt.sessions() as s:
        assert s.scalar(select(WorkflowSetting.enabled).where(WorkflowSetting.workflow == TEXT_BACK)) is False
        assert s.scalar(select(Recovery.caller)) == "+15125550123"  # the agency's numbers stay
    page = client.get(f"/settings/{sub.id}")
    assert b"not connected to this CRM any more" in page.data


@pytest.mark.parametrize("state, why", [("forged-state-value-123456789", "not started in this browser"),
                                        (None, "not started in this browser")])
def test_a_callback_with_the_wrong_state_is_refused(client, rt, marketplace, fake_ghl, state, why):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    query = _start(client, "hubspot" if state is None else "ghl")
    provider = "hubspot" if state is None else "ghl"
    code = "any-code"
    resp = client.get(f"/oauth/{provider}/callback?code={code}" + (f"&state={state}" if state else ""))
    assert resp.status_code == 403 and why.encode() in resp.data
    assert _subs(rt) == [] and query["state"]


def test_a_replayed_callback_is_refused_with_the_vendors_reason(client, rt, marketplace, fake_ghl):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    query = _start(client, "ghl")
    url = f"/oauth/ghl/callback?code={fake_ghl.authorize(query['redirect_uri'], location_id=LOC_A)}&state={query['state']}"
    assert client.get(url).status_code == 302
    again = client.get(url)  # the state was spent
    assert again.status_code == 403 and b"used already" in again.data
    query = _start(client, "ghl")  # a fresh state, the old code
    code = parse_qs(urlparse(url).query)["code"][0]
    replay = client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}")
    assert replay.status_code == 400 and b"Invalid authorization code" in replay.data
    assert len(_subs(rt)) == 1


def test_a_marketplace_started_install_without_state_is_accepted(client, rt, marketplace, fake_ghl):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    code = fake_ghl.authorize(f"{PUBLIC_URL}/oauth/ghl/callback", location_id=LOC_A)
    assert client.get(f"/oauth/ghl/callback?code={code}").status_code == 302
    assert [s.external_id for s in _subs(rt)] == [LOC_A]


def test_a_declined_consent_says_so(client, rt, marketplace):
    query = _start(client, "salesforce")
    resp = client.get(f"/oauth/salesforce/callback?error=access_denied&error_description=end-user+denied+authorization"
                      f"&state={query['state']}")
    assert resp.status_code == 400 and b"end-user denied authorization" in resp.data


def test_an_install_without_app_credentials_says_which_setting(client, rt):
    rt.config = replace(rt.config, hubspot_client_id=None)
    resp = client.get("/oauth/hubspot/install")
    assert resp.status_code == 503 and b"HUBSPOT_CLIENT_ID" in resp.data


def test_hubspot_install_finds_the_portal_from_the_token(client, rt, fake_hubspot):
    query = _start(client, "hubspot")
    assert query["_target"].startswith("https://app.hubspot.com/oauth/authorize?")
    assert "crm.objects.deals.write" in query["scope"].split()
    code = fake_hubspot.authorize("62515", query["redirect_uri"])
    resp = client.get(f"/oauth/hubspot/callback?code={code}&state={query['state']}")
    assert resp.status_code == 302
    [sub] = _subs(rt)
    assert (sub.provider, sub.external_id, sub.name) == ("hubspot", "62515", "acme-62515.com")
    [inst] = _installations(rt)
    assert fake_hubspot.tokens[rt.vault.open(inst.access_token)] == "62515"
    assert 1700 < (inst.expires_at - inst.refreshed_at).total_seconds() <= 1800
    assert "crm.objects.deals.write" in inst.scopes
    # The portal comes from the token introspection endpoint (2026-03), never from the deprecated
    # GET /oauth/v1/access-tokens/{token}, which puts the token in a URL (the fake does not serve it).
    assert "POST /oauth/2026-03/token/introspect" in fake_hubspot.requests


def test_a_token_hubspot_calls_inactive_installs_nothing(client, rt, fake_hubspot):
    query = _start(client, "hubspot")
    code = fake_hubspot.authorize("62515", query["redirect_uri"])
    fake_hubspot.tokens_inactive = True  # issued, then revoked at once (the app uninstalled meanwhile)
    resp = client.get(f"/oauth/hubspot/callback?code={code}&state={query['state']}")
    assert resp.status_code == 400 and b"not active" in resp.data
    assert _subs(rt) == [] and _installations(rt) == []


def test_salesforce_install_takes_the_org_and_instance_from_the_token(client, rt, fake_salesforce):
    query = _start(client, "salesforce")
    assert query["_target"].startswith(f"{fake_salesforce.url}/services/oauth2/authorize?")
    assert query["scope"] == "api refresh_token"
    code = fake_salesforce.authorize(query["redirect_uri"])
    resp = client.get(f"/oauth/salesforce/callback?code={code}&state={query['state']}")
    assert resp.status_code == 302
    [sub] = _subs(rt)
    assert (sub.provider, sub.external_id, sub.name, sub.timezone) == (
        "salesforce", ORG_ID, "Acme Plumbing & Heating", "America/Chicago")
    [inst] = _installations(rt)
    assert inst.instance_url == fake_salesforce.url and inst.webhook_secret_hash
    assert rt.vault.open(inst.access_token) == fake_salesforce.session_id
    assert rt.vault.open(inst.refresh_token) in fake_salesforce.refresh_tokens
    with rt.sessions() as s:
        assert s.scalar(select(Agency.name)) == "Acme Plumbing & Heating"


def _lifecycle(kind: str, **fields) -> bytes:
    from datetime import datetime, timezone
    import uuid
    payload = {"type": kind, "appId": APP_ID, "versionId": "66a0419a0dffa47fb5f8b230",
               "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
               "webhookId": str(uuid.uuid4())} | fields
    return json.dumps(payload).encode()


def _cli(config, monkeypatch, *args):
    return run_cli(config, monkeypatch, *args).output


def test_installations_list_shows_each_ones_health(client, rt, config, marketplace, fake_ghl, fake_salesforce,
                                                   ghl_signing_keys, fake_twilio, monkeypatch):
    from datetime import timedelta

    from integration.models import utcnow
    from tests.vendors.ghl import missed_call
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    fake_ghl.contacts.clear()
    query = _start(client, "ghl")
    client.get(f"/oauth/ghl/callback?code={fake_ghl.authorize(query['redirect_uri'], location_id=LOC_A)}"
               f"&state={query['state']}")
    query = _start(client, "salesforce")
    client.get(f"/oauth/salesforce/callback?code={fake_salesforce.authorize(query['redirect_uri'])}"
               f"&state={query['state']}")
    with rt.sessions.begin() as s:  # the GoHighLevel location gets a number, and its token expired an hour ago
        s.scalar(select(SubAccount).where(SubAccount.external_id == LOC_A)).phone_number = "+15125550100"
        s.scalar(select(Installation).where(Installation.provider == "salesforce")).expires_at = None
    listed = json.loads(_cli(config, monkeypatch, "installations", "list", "--format", "json"))
    assert [(r["provider"], r["kind"], r["last_event"], r["last_write"]) for r in listed] == [
        ("ghl", "Location", "never", "never"), ("salesforce", "oauth", "never", "never")]
    assert listed[0]["token"].startswith("valid, expires in 2") or listed[0]["token"].startswith("valid, expires in 1")
    assert listed[1]["token"] == "valid until refused"
    assert listed[1]["outbound_message_url"].startswith(f"{PUBLIC_URL}/webhooks/salesforce/")

    missed_call(client, ghl_signing_keys)  # an event in, and the CRM writes out
    with rt.sessions.begin() as s:
        s.scalar(select(Installation).where(Installation.provider == "ghl")).expires_at = utcnow() - timedelta(hours=1)
    table = _cli(config, monkeypatch, "installations", "list")
    ghl_line = next(line for line in table.splitlines() if " ghl " in line)
    assert "expired, refreshed on next use" in ghl_line and ghl_line.count("just now") == 2
    assert "Outbound Message URL: " + PUBLIC_URL in table
    assert fake_ghl.tokens[LOC_A] not in table  # tokens are never shown


def test_a_white_label_agency_installs_through_its_own_marketplace_host(client, rt):
    rt.config = replace(rt.config, ghl_marketplace_url="https://marketplace.leadconnectorhq.com")
    query = _start(client, "ghl")
    assert query["_target"].startswith("https://marketplace.leadconnectorhq.com/v2/oauth/chooselocation?")


# ------------------------------------------------------------------ a sender chosen at install

def _install_location(client, fake_ghl):
    query = _start(client, "ghl")
    code = fake_ghl.authorize(query["redirect_uri"], location_id=LOC_A)
    assert client.get(f"/oauth/ghl/callback?code={code}&state={query['state']}").status_code == 302
    [sub] = _subs(rt=client.application.extensions["ringback"])
    return sub


def test_a_location_with_a_number_texts_from_it_right_after_install(client, rt, marketplace, fake_ghl, fake_twilio,
                                                                     ghl_signing_keys):
    from tests.vendors.ghl import EVENT_CONTACT, known_caller, outbound
    from tests.vendors.ghl import raw
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    fake_ghl.add_number(LOC_A, "+15125550190", default=False, sms=True)
    fake_ghl.add_number(LOC_A, "+15125550191", default=True, sms=True)
    sub = _install_location(client, fake_ghl)
    with rt.sessions() as s:
        from integration.settings_store import text_back_settings
        assert text_back_settings(s, s.get(SubAccount, sub.id)).send_via == "ghl"
        assert s.get(SubAccount, sub.id).phone_number == "+15125550191"  # GoHighLevel's default
    assert b"cannot text your missed callers" not in client.get(f"/settings/{sub.id}").data
    # The client picks the location's other number on the number page.
    import re
    page = client.get(f"/settings/{sub.id}/number").data.decode()
    assert "+15125550190" in page and "+15125550191</label></td><td> (GoHighLevel's default)" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    picked = client.post(f"/settings/{sub.id}/number", data={"csrf_token": token, "action": "ghl_number",
                                                             "phone": "+15125550190"})
    assert picked.status_code == 302
    refused = client.post(f"/settings/{sub.id}/number", data={"csrf_token": token, "action": "ghl_number",
                                                              "phone": "+15125550999"})
    assert refused.status_code == 400 and b"not a number of this location that can text" in refused.data
    # Then a caller is missed: the text goes out of the location's own inbox, from that number, not Twilio.
    known_caller(fake_ghl)
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    [text] = outbound(fake_ghl)
    assert text["contactId"] == EVENT_CONTACT and "Acme Plumbing" in text["body"] and text["_from"] == "+15125550190"
    assert fake_twilio.messages == []


def test_a_number_released_in_ghl_shows_as_not_texting_until_another_is_chosen(client, rt, marketplace, fake_ghl,
                                                                                ringback, monkeypatch):
    import html
    import re
    from datetime import timedelta

    import time_machine

    from integration.worker import tasks
    from integration.models import utcnow
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    fake_ghl.add_number(LOC_A, "+15125550190")
    fake_ghl.add_number(LOC_A, "+15125550191", default=True)
    sub = _install_location(client, fake_ghl)
    with time_machine.travel(utcnow() + timedelta(hours=7), tick=False):
        tasks.sender_checks.call_local()  # the worker's hourly task: the number is there
    with rt.sessions() as s:
        assert s.get(SubAccount, sub.id).sender_problem is None
    # The agency releases the number in GoHighLevel: it just disappears from the location's list.
    fake_ghl.phone_numbers[LOC_A] = [n for n in fake_ghl.phone_numbers[LOC_A] if n["phoneNumber"] != "+15125550191"]
    with time_machine.travel(utcnow() + timedelta(hours=8), tick=False):
        tasks.sender_checks.call_local()  # checked less than CHECK_EVERY ago: GoHighLevel is not asked again
    assert b"cannot text your missed callers" not in client.get(f"/settings/{sub.id}").data
    with time_machine.travel(utcnow() + timedelta(hours=14), tick=False):
        tasks.sender_checks.call_local()
    page = html.unescape(client.get(f"/settings/{sub.id}").data.decode())
    assert "Ringback cannot text your missed callers: GoHighLevel no longer lists +15125550191 among the " \
           "location's numbers that can text (it has: +15125550190)" in page
    assert "choose another of the location's numbers on the number page" in page
    assert "cannot text: number gone" in client.get("/agency").data.decode()
    monkeypatch.setenv("GHL_API_URL", fake_ghl.url)
    listed = ringback("subaccount", "number", str(sub.id), "--list")
    assert listed.exit_code == 0 and "+15125550190" in listed.output
    assert "+15125550191, which texts go out of, is no longer one of the location's numbers" in listed.output
    bought = ringback("subaccount", "number", str(sub.id), "--buy", "--area-code", "512")
    assert bought.exit_code == 1 and "its numbers are the location's own (bought and released in GoHighLevel)" \
        in bought.output
    # The client chooses the remaining number: texting again, at once.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/settings/{sub.id}/number", data={"csrf_token": token, "action": "ghl_number",
                                                          "phone": "+15125550190"}).status_code == 302
    assert b"cannot text your missed callers" not in client.get(f"/settings/{sub.id}").data


@pytest.mark.parametrize("why", ["no numbers", "scope refused"])
def test_a_location_without_a_usable_number_is_told_what_to_do(client, rt, marketplace, fake_ghl, why):
    fake_ghl.add_location(LOC_A, COMPANY, "Acme Plumbing")
    if why == "scope refused":
        fake_ghl.add_number(LOC_A, "+15125550191", default=True)
        fake_ghl.numbers_scope_granted = False
    else:
        fake_ghl.add_number(LOC_A, "+15125550192", default=True, sms=False)  # a voice-only line
    sub = _install_location(client, fake_ghl)
    page = client.get(f"/settings/{sub.id}").data.decode()
    assert "Ringback cannot text your missed callers: this sub-account has no number to text from" in page
    assert "send through GoHighLevel" in page
