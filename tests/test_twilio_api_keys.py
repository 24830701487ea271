"""An agency connects its Twilio account with an API key instead of its auth token. Twilio signs
webhooks with the auth token, which Ringback then never sees, so the numbers Ringback wires get
webhook URLs with a login of Ringback's in them (Twilio sends it after a 401 with a realm), and
a missed call on such a number is texted back through the API key, delivery reports included."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from integration import twilio_accounts
from integration.models import Agency, Message, SubAccount, TwilioAccount
from tests.conftest import PUBLIC_URL, sign
from tests.vendors.twilio import fixture

AGENCY_SID, AGENCY_TOKEN = "AC" + "c3" * 16, "agency00000000000000000000000000"
NUMBER, CALLER = "+15125550190", "+15125550123"


@pytest.fixture
def agency_key(rt, fake_twilio, installed):  # noqa: F811
    """An agency owning the installed sub-account, its Twilio account, one number and an API key of it."""
    fake_twilio.add_account(AGENCY_SID, AGENCY_TOKEN)
    fake_twilio.own_number(AGENCY_SID, NUMBER)
    with rt.sessions.begin() as s:
        agency = Agency(name="Acme Agency")
        s.add(agency)
        s.flush()
        s.get(SubAccount, installed.id).agency_id = agency.id
    return agency.id, *fake_twilio.add_api_key(AGENCY_SID)


def _through(client):
    """How the fake Twilio reaches Ringback here: through the Flask test client."""
    def post(url, data, headers):
        answer = client.post(urlsplit(url).path, data=data, headers=headers)
        return answer.status_code, answer.headers
    return post


def _number(fake_twilio):
    return next(n for n in fake_twilio.numbers.values() if n["phone_number"] == NUMBER)


def test_connect_with_an_api_key_then_a_missed_call_is_texted_back_and_its_delivery_recorded(
        ringback, rt, client, fake_twilio, agency_key):  # noqa: F811
    agency_id, key_sid, key_secret = agency_key
    done = ringback("twilio", "connect", "--account-sid", AGENCY_SID, "--api-key", key_sid, "--api-secret", key_secret,
                    "--agency", str(agency_id))
    assert done.exit_code == 0 and f"with API key {key_sid}" in done.output, done.output
    assert f"{AGENCY_SID} (Account c3c3), API key {key_sid}" in ringback("twilio", "list").output
    with rt.sessions() as s:
        row = s.scalar(select(TwilioAccount))
        # Sealed, like every secret: neither the key's secret nor the login is stored readable.
        assert key_secret not in row.auth_token and row.webhook_login and len(row.webhook_login) > 48
    assigned = ringback("subaccount", "number", "1", "--assign", NUMBER)
    assert assigned.exit_code == 0, assigned.output
    wired = _number(fake_twilio)
    assert wired["status_callback"].startswith("https://twilio:") and "@" in wired["status_callback"]
    assert wired["status_callback"].endswith("/webhooks/twilio/voice")
    # Twilio calls without the login, gets 401 with a realm, and calls again with it.
    assert fake_twilio.ring(NUMBER, CALLER, post=_through(client)) == 200
    [sent] = fake_twilio.messages
    assert (sent["from"], sent["to"], sent["account_sid"]) == (NUMBER, CALLER, AGENCY_SID)
    assert fake_twilio.deliver(sent["sid"], post=_through(client)) == [200, 200]
    with rt.sessions() as s:
        assert [m.status for m in s.scalars(select(Message))] == ["delivered"]


def test_a_webhook_for_an_api_key_account_without_our_login_is_refused(rt, client, fake_twilio, agency_key):
    agency_id, key_sid, key_secret = agency_key
    twilio_accounts.connect(rt, AGENCY_SID, key_secret, agency_id, api_key_sid=key_sid)
    params = fixture("call_status__no_answer") | {"To": NUMBER, "Called": NUMBER, "AccountSid": AGENCY_SID}
    path = "/webhooks/twilio/voice"
    # Even perfectly signed with the account's auth token: Ringback does not hold that token.
    signed = {"X-Twilio-Signature": sign(PUBLIC_URL + path, params, AGENCY_TOKEN)}
    challenged = client.post(path, data=params, headers=signed)
    assert challenged.status_code == 401 and challenged.headers["WWW-Authenticate"] == 'Basic realm="Ringback"'
    wrong = client.post(path, data=params, headers=signed | {"Authorization": "Basic dHdpbGlvOndyb25n"})
    assert wrong.status_code == 403 and b"login is not this account's" in wrong.data
    for junk in ("Basic !!!not-base64", "Bearer twilio", "Basic " + "A" * 5000, "Digest username=twilio"):
        answered = client.post(path, data=params, headers=signed | {"Authorization": junk})
        assert answered.status_code in (401, 403), (junk[:20], answered.status_code)
    assert fake_twilio.messages == []
    with rt.sessions() as s:
        assert s.scalars(select(Message)).all() == []


@pytest.mark.parametrize("args, says", [
    (["--api-key", "SK" + "0" * 32, "--api-secret", "wrong"], "Twilio refused these credentials: 401 20003"),
    (["--api-key", "not-a-key", "--api-secret", "x"], "is not a Twilio API key SID"),
    (["--api-key", "SK" + "0" * 32, "--auth-token", "x"], "not both"),
    (["--api-secret", "x", "--auth-token", "y"], "--api-secret goes with --api-key"),
])
def test_bad_api_key_credentials_are_refused_and_nothing_is_stored(ringback, rt, agency_key, args, says):
    agency_id = agency_key[0]
    refused = ringback("twilio", "connect", "--account-sid", AGENCY_SID, "--agency", str(agency_id), *args)
    assert refused.exit_code != 0 and says in refused.output, refused.output
    with rt.sessions() as s:
        assert s.scalars(select(TwilioAccount)).all() == []


def test_swapping_the_auth_token_for_an_api_key_rewires_the_numbers_ringback_wired(
        ringback, rt, client, fake_twilio, agency_key):  # noqa: F811
    agency_id, key_sid, key_secret = agency_key
    assert ringback("twilio", "connect", "--account-sid", AGENCY_SID, "--auth-token", AGENCY_TOKEN,
                    "--agency", str(agency_id)).exit_code == 0
    assert ringback("subaccount", "number", "1", "--assign", NUMBER).exit_code == 0
    assert _number(fake_twilio)["status_callback"] == f"{PUBLIC_URL}/webhooks/twilio/voice"
    swapped = ringback("twilio", "connect", "--account-sid", AGENCY_SID, "--api-key", key_sid,
                       "--api-secret", key_secret, "--agency", str(agency_id))
    assert swapped.exit_code == 0 and "1 number(s) Ringback wired now point at Ringback" in swapped.output
    assert _number(fake_twilio)["status_callback"].startswith("https://twilio:")
    rt.forget_twilio_accounts()
    assert fake_twilio.ring(NUMBER, CALLER, post=_through(client)) == 200
    assert [m["account_sid"] for m in fake_twilio.messages] == [AGENCY_SID]
    # And back to the auth token: the login comes out of the URLs again.
    back = ringback("twilio", "connect", "--account-sid", AGENCY_SID, "--auth-token", AGENCY_TOKEN,
                    "--agency", str(agency_id))
    assert back.exit_code == 0
    assert _number(fake_twilio)["status_callback"] == f"{PUBLIC_URL}/webhooks/twilio/voice"


def test_an_agency_connects_with_an_api_key_on_its_page(rt, client, fake_twilio, agency_key):
    import re
    agency_id, key_sid, key_secret = agency_key
    with client.session_transaction() as session:
        session["viewer"] = {"provider": "ghl", "user": "owner@acme-agency.example", "agency_id": agency_id,
                            "sub_ids": [], "expires": 4102444800.0}
    page = client.get("/agency").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "account_sid": AGENCY_SID, "api_key_sid": key_sid}
    both = client.post("/agency/twilio", data=form | {"auth_token": AGENCY_TOKEN, "api_secret": key_secret})
    assert both.status_code == 400 and b"not both" in both.data
    wrong = client.post("/agency/twilio", data=form | {"api_secret": "not-the-secret"})
    assert wrong.status_code == 400 and b"Twilio refused these credentials" in wrong.data
    assert client.post("/agency/twilio", data=form | {"api_secret": key_secret}).status_code == 302
    shown = client.get("/agency?twilio=connected").data.decode()
    assert f"Texts go through {AGENCY_SID} (Account c3c3), with API key {key_sid}." in shown
    assert key_secret not in shown
    with rt.sessions() as s:
        [row] = s.scalars(select(TwilioAccount)).all()
        assert (row.agency_id, row.api_key_sid) == (agency_id, key_sid)
