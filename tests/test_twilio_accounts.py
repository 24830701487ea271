"""Agencies connect their own Twilio accounts: each sub-account texts through its agency's account
and no other, and each number's webhooks are checked with the token of the account that owns it."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from integration import twilio_accounts
from integration.models import Agency, Message, SubAccount, TwilioAccount
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, sign
from tests.vendors.twilio import fixture

ACME_SID, ACME_TOKEN = "AC" + "a1" * 16, "acme0000000000000000000000000000"
BRIGHT_SID, BRIGHT_TOKEN = "AC" + "b2" * 16, "bright000000000000000000000000000"
ACME_NUMBER, BRIGHT_NUMBER, LONE_NUMBER = "+15125550140", "+15125550150", "+15125550160"


@pytest.fixture
def two_agencies(rt, fake_twilio):
    """Two agencies with a sub-account each, and a sub-account of no agency; both agencies' Twilio accounts exist."""
    fake_twilio.add_account(ACME_SID, ACME_TOKEN)
    fake_twilio.add_account(BRIGHT_SID, BRIGHT_TOKEN)
    with rt.sessions.begin() as s:
        acme, bright = Agency(name="Acme Agency"), Agency(name="Bright Agency")
        s.add_all([acme, bright])
        s.flush()
        for agency, name, number in ((acme, "Acme Plumbing", ACME_NUMBER), (bright, "Bright Dental", BRIGHT_NUMBER),
                                     (None, "Lone Garage", LONE_NUMBER)):
            s.add(SubAccount(agency_id=agency.id if agency else None, name=name, provider="twilio", external_id=number,
                             phone_number=number, timezone="America/Chicago", business_hours="24/7"))
    with rt.sessions() as s:
        return {a.name: a.id for a in s.scalars(select(Agency))}


def _call(client, number: str, account: str, token: str, caller: str = "+15125550123"):
    params = fixture("call_status__no_answer") | {"To": number, "Called": number, "AccountSid": account,
                                                  "From": caller, "Caller": caller,
                                                  "CallSid": "CA" + number[-4:] * 8}
    path = "/webhooks/twilio/voice"
    return client.post(path, data=params, headers={"X-Twilio-Signature": sign(PUBLIC_URL + path, params, token)})


def test_each_sub_account_texts_through_its_agencys_account_and_no_other(client, rt, two_agencies, fake_twilio):
    twilio_accounts.connect(rt, ACME_SID, ACME_TOKEN, two_agencies["Acme Agency"])
    twilio_accounts.connect(rt, BRIGHT_SID, BRIGHT_TOKEN, two_agencies["Bright Agency"])
    assert _call(client, ACME_NUMBER, ACME_SID, ACME_TOKEN).status_code == 200
    assert _call(client, BRIGHT_NUMBER, BRIGHT_SID, BRIGHT_TOKEN).status_code == 200
    # A sub-account of no agency, with no default connected: the environment's account.
    assert _call(client, LONE_NUMBER, ACCOUNT_SID, AUTH_TOKEN).status_code == 200
    sent = {m["from"]: m["account_sid"] for m in fake_twilio.messages}
    assert sent == {ACME_NUMBER: ACME_SID, BRIGHT_NUMBER: BRIGHT_SID, LONE_NUMBER: ACCOUNT_SID}
    # Delivery reports come signed with the sending account's token, and are taken.
    tokens = {ACME_SID: ACME_TOKEN, BRIGHT_SID: BRIGHT_TOKEN, ACCOUNT_SID: AUTH_TOKEN}
    path = "/webhooks/twilio/message-status"
    for msg in fake_twilio.messages:
        params = fixture("message_status__delivered") | {"MessageSid": msg["sid"], "SmsSid": msg["sid"],
                                                         "AccountSid": msg["account_sid"], "From": msg["from"]}
        signature = sign(PUBLIC_URL + path, params, tokens[msg["account_sid"]])
        assert client.post(path, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200
    with rt.sessions() as s:
        assert {m.status for m in s.scalars(select(Message))} == {"delivered"}


def test_a_default_account_serves_sub_accounts_whose_agency_has_none(client, rt, two_agencies, fake_twilio):
    twilio_accounts.connect(rt, BRIGHT_SID, BRIGHT_TOKEN)  # the deployment's default
    assert _call(client, LONE_NUMBER, BRIGHT_SID, BRIGHT_TOKEN).status_code == 200
    assert _call(client, ACME_NUMBER, BRIGHT_SID, BRIGHT_TOKEN).status_code == 200
    assert [m["account_sid"] for m in fake_twilio.messages] == [BRIGHT_SID, BRIGHT_SID]


def test_webhooks_are_checked_with_the_token_of_the_account_they_name(client, rt, two_agencies, fake_twilio):
    twilio_accounts.connect(rt, ACME_SID, ACME_TOKEN, two_agencies["Acme Agency"])
    # Signed with Acme's token but claiming Bright's account: refused.
    forged = _call(client, ACME_NUMBER, BRIGHT_SID, ACME_TOKEN)
    assert forged.status_code == 403 and b"not a Twilio account connected" in forged.data
    # Acme's AccountSid, signed with another token: refused.
    assert _call(client, ACME_NUMBER, ACME_SID, AUTH_TOKEN).status_code == 403
    assert fake_twilio.messages == []


def test_connect_checks_the_credentials_with_twilio_first(cli, rt, two_agencies, fake_twilio, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", rt.config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(rt.config.data_dir))
    monkeypatch.setenv("TWILIO_API_URL", fake_twilio.url)
    wrong = cli("twilio", "connect", "--account-sid", ACME_SID, "--auth-token", "not-the-token",
                "--agency", str(two_agencies["Acme Agency"]))
    assert wrong.exit_code == 1 and "Twilio refused these credentials: 401 20003" in wrong.output and "Authenticate" in wrong.output
    malformed = cli("twilio", "connect", "--account-sid", "AC123", "--auth-token", "x")
    assert malformed.exit_code == 1 and "is not a Twilio Account SID" in malformed.output
    no_agency = cli("twilio", "connect", "--account-sid", ACME_SID, "--auth-token", ACME_TOKEN, "--agency", "999")
    assert no_agency.exit_code == 1 and "no agency 999" in no_agency.output
    with rt.sessions() as s:
        assert s.scalars(select(TwilioAccount)).all() == []
    ok = cli("twilio", "connect", "--account-sid", ACME_SID, "--auth-token", ACME_TOKEN,
             "--agency", str(two_agencies["Acme Agency"]))
    assert ok.exit_code == 0, ok.output
    assert f"connected {ACME_SID} (Account a1a1) as agency {two_agencies['Acme Agency']}'s account" in ok.output
    listed = cli("twilio", "list").output
    assert ACME_SID in listed and ACME_TOKEN not in listed
    taken = cli("twilio", "connect", "--account-sid", ACME_SID, "--auth-token", ACME_TOKEN)
    assert taken.exit_code == 1 and "already connected as agency" in taken.output
    with rt.engine.connect() as conn:  # sealed: no column holds the token
        assert ACME_TOKEN not in str(conn.execute(text("SELECT * FROM twilio_accounts")).all())
