"""`ringback subaccount number`: a sub-account made by a CRM install gets a Twilio number to text
from, the number's webhooks are pointed at Ringback (never its voice URL) and put back on release."""
from __future__ import annotations

from sqlalchemy import select

from integration.models import Message, SubAccount
from tests.conftest import ACCOUNT_SID, PUBLIC_URL
from tests.vendors.twilio import fixture, post

NUMBER, OTHER, BOUGHT = "+15125550170", "+15125550171", "+15125550180"
OLD_SMS = "https://old-provider.example/sms"


def _number(fake_twilio, phone):
    return next(n for n in fake_twilio.numbers.values() if n["phone_number"] == phone)


def test_assign_asks_before_replacing_webhooks_then_texts_from_the_number(ringback, rt, installed, fake_twilio, client):
    fake_twilio.own_number(ACCOUNT_SID, NUMBER, sms_url=OLD_SMS)
    listed = ringback("subaccount", "number", "1", "--list")
    assert listed.exit_code == 0 and NUMBER in listed.output and f"SMS URL {OLD_SMS}" in listed.output
    declined = ringback("subaccount", "number", "1", "--assign", NUMBER, input="n\n")
    assert declined.exit_code == 1 and f"sms url: {OLD_SMS}" in declined.output and "nothing changed" in declined.output
    assert _number(fake_twilio, NUMBER)["sms_url"] == OLD_SMS
    with rt.sessions() as s:
        assert s.get(SubAccount, 1).phone_number is None
    done = ringback("subaccount", "number", "1", "--assign", NUMBER, input="y\n")
    assert done.exit_code == 0, done.output
    wired = _number(fake_twilio, NUMBER)
    assert wired["sms_url"] == f"{PUBLIC_URL}/webhooks/twilio/sms"
    assert wired["status_callback"] == f"{PUBLIC_URL}/webhooks/twilio/voice"
    assert wired["voice_url"] == "https://example.com/the-business-ivr"  # the business's call routing untouched
    assert "points at Ringback" in ringback("subaccount", "number", "1", "--list").output
    # The number's own call-status callback: a missed call, texted back from the number.
    params = fixture("call_status__no_answer") | {"To": NUMBER, "Called": NUMBER}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    [sent] = fake_twilio.messages
    assert sent["from"] == NUMBER and sent["account_sid"] == ACCOUNT_SID
    released = ringback("subaccount", "number", "1", "--release")
    assert released.exit_code == 0 and f"released {NUMBER}" in released.output
    put_back = _number(fake_twilio, NUMBER)
    assert (put_back["sms_url"], put_back["status_callback"]) == (OLD_SMS, "")
    with rt.sessions() as s:
        assert s.get(SubAccount, 1).phone_number is None and s.scalars(select(Message)).all()


def test_numbers_that_cannot_be_assigned_are_refused_naming_why(ringback, rt, installed, fake_twilio):
    fake_twilio.own_number(ACCOUNT_SID, OTHER)
    with rt.sessions.begin() as s:
        s.add(SubAccount(name="Bright Dental", provider="twilio", external_id=OTHER, phone_number=OTHER,
                         timezone="America/Chicago", business_hours="24/7"))
    elsewhere = ringback("subaccount", "number", "1", "--assign", "+15125550199", "--yes")
    assert elsewhere.exit_code == 1 and f"+15125550199 is not a number of Twilio account {ACCOUNT_SID}" in elsewhere.output
    taken = ringback("subaccount", "number", "1", "--assign", OTHER, "--yes")
    assert taken.exit_code == 1 and f"{OTHER} already belongs to another sub-account" in taken.output
    assert _number(fake_twilio, OTHER)["sms_url"] == ""  # Twilio untouched when the assignment is not saved
    assert ringback("subaccount", "number", "1").exit_code == 2  # one of the actions is needed


def test_buy_confirms_then_buys_and_assigns(ringback, rt, installed, fake_twilio):
    fake_twilio.available.append(BOUGHT)
    none_there = ringback("subaccount", "number", "1", "--buy", "--area-code", "999", "--yes")
    assert none_there.exit_code == 1 and "no SMS-capable local number in area code 999" in none_there.output
    declined = ringback("subaccount", "number", "1", "--buy", "--area-code", "512", input="n\n")
    assert declined.exit_code == 1 and f"Buy {BOUGHT}" in declined.output and "nothing bought" in declined.output
    # The confirmation names the monthly price Twilio's Pricing API reports for a local number...
    assert "Twilio bills the account 1.15 USD a month for it" in declined.output
    assert fake_twilio.numbers == {}
    fake_twilio.local_price = None  # ...and says so when it reports none
    unpriced = ringback("subaccount", "number", "1", "--buy", "--area-code", "512", input="n\n")
    assert "its Pricing API gave no figure" in unpriced.output and fake_twilio.numbers == {}
    bought = ringback("subaccount", "number", "1", "--buy", "--area-code", "512", input="y\n")
    assert bought.exit_code == 0 and f"bought {BOUGHT}" in bought.output
    assert _number(fake_twilio, BOUGHT)["sms_url"] == f"{PUBLIC_URL}/webhooks/twilio/sms"
    with rt.sessions() as s:
        assert s.get(SubAccount, 1).phone_number == BOUGHT


def test_a_sub_account_that_cannot_text_says_so_everywhere_until_it_can(ringback, rt, client, fake_twilio,
                                                                         ghl_signing_keys):
    import re
    from dataclasses import replace

    from integration import texting
    from tests.vendors.ghl import raw, send, signed
    with rt.sessions.begin() as s:  # a GoHighLevel location installed without a number, texting through Twilio
        s.add(SubAccount(name="Acme Plumbing", provider="ghl", external_id="ve9EPM428h8vShlRW1KT",
                         timezone="America/Chicago", business_hours="24/7"))
    body = raw("inbound_message__call_no_answer")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    assert fake_twilio.messages == []
    listing = ringback("subaccount", "list").output
    assert "CANNOT: no number" in listing and "#1 Acme Plumbing cannot text missed callers" in listing
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/").data).group(1).decode()
    client.post("/dev/sign-in", data={"csrf_token": token, "next": "/settings/1"})
    page = client.get("/settings/1").data.decode()
    assert "Ringback cannot text your missed callers: this sub-account has no number to text from (1 caller(s) " \
           "not texted since" in page
    assert "ringback subaccount number 1 --assign" in page
    assert "cannot text: no number (1 not texted)" in client.get("/agency").data.decode()
    fake_twilio.own_number(ACCOUNT_SID, NUMBER)
    assigned = ringback("subaccount", "number", "1", "--assign", NUMBER)
    # A US local number in no registered A2P campaign: said at once, before any text fails.
    assert assigned.exit_code == 0 and "warning: not texting: +15125550170 is in no Messaging Service" in assigned.output
    assert "CANNOT: A2P not registered" in ringback("subaccount", "list").output
    page = client.get("/settings/1").data.decode()
    assert "Ringback cannot text your missed callers: +15125550170 is in no Messaging Service of the Twilio account, " \
           "so in no registered A2P 10DLC campaign" in page and "--messaging-service MG" in page
    # Registered in the Twilio console (a service holding the number, its campaign verified):
    # the next check finds it, whichever way texts name their sender.
    fake_twilio.add_service(ACCOUNT_SID, [NUMBER], campaign_status="VERIFIED")
    listed = ringback("subaccount", "number", "1", "--list").output
    assert "A2P 10DLC: registered A2P campaign CX" in listed and "which holds the number" in listed
    assert "CANNOT" not in ringback("subaccount", "list").output
    assert "cannot text your missed callers" not in client.get("/settings/1").data.decode()
    # With a number but no Twilio account anywhere, texts would only reach the sandbox: said too.
    with rt.sessions() as s:
        sandboxed = texting.problem(s, replace(rt.config, twilio_account_sid=None), s.get(SubAccount, 1))
    assert sandboxed.short == "sandbox" and "ringback twilio connect" in sandboxed.fix


def test_a_messaging_service_with_a_registered_campaign_sends_the_texts(ringback, rt, installed, fake_twilio, client):
    fake_twilio.own_number(ACCOUNT_SID, NUMBER)
    assert ringback("subaccount", "number", "1", "--assign", NUMBER, "--yes").exit_code == 0
    listed = ringback("subaccount", "number", "1", "--list").output
    assert f"A2P 10DLC: {NUMBER} is in no Messaging Service of the Twilio account, so in no registered A2P 10DLC " \
           "campaign: US carriers will block its texts (Twilio 30034). To fix: register a brand" in listed
    without = fake_twilio.add_service(ACCOUNT_SID, [OTHER], campaign_status="VERIFIED")
    refused = ringback("subaccount", "number", "1", "--messaging-service", without)
    assert refused.exit_code == 1 and f"does not hold {NUMBER}: add the number to its Sender Pool" in refused.output
    pending = fake_twilio.add_service(ACCOUNT_SID, [NUMBER], campaign_status="IN_PROGRESS")
    assert "is IN_PROGRESS: until it is VERIFIED" in ringback("subaccount", "number", "1", "--messaging-service",
                                                               pending).output
    service = fake_twilio.add_service(ACCOUNT_SID, [NUMBER], campaign_status="VERIFIED")
    done = ringback("subaccount", "number", "1", "--messaging-service", service)
    assert done.exit_code == 0 and f"through Messaging Service {service}" in done.output
    assert "registered A2P campaign CX" in done.output and ": VERIFIED" in done.output
    # The next missed call's text goes through the service (Twilio picks the sender from its pool).
    params = fixture("call_status__no_answer") | {"To": NUMBER, "Called": NUMBER}
    assert post(client, "/webhooks/twilio/voice", params).status_code == 200
    [sent] = fake_twilio.messages
    assert sent["messaging_service_sid"] == service and sent["from"] is None
    assert "texts from its number again" in ringback("subaccount", "number", "1", "--messaging-service", "none").output


def test_a_suspended_account_or_an_unregistered_number_shows_as_not_texting(client, rt, sub, fake_twilio):
    from integration import texting
    from integration.worker import events, steps
    from tests.vendors.twilio import report
    rt.huey.immediate = False
    post(client, "/webhooks/twilio/voice", fixture("call_status__no_answer"))
    claim = events.process_event(rt, 1).claims[0]
    steps.deliver(rt, claim)
    rt.huey.immediate = True
    [msg] = fake_twilio.messages
    report(client, msg["sid"], "undelivered", 30034)
    with rt.sessions() as s:
        problem = texting.problem(s, rt.config, s.get(SubAccount, sub.id))
    assert problem.short == "Twilio 30034" and "not in a registered A2P 10DLC campaign" in problem.why
    assert f"ringback subaccount number {sub.id} --messaging-service" in problem.fix
    report(client, msg["sid"], "delivered")  # a later report of the same text cannot move it back
    fake_twilio.fail_next(20003)
    post(client, "/webhooks/twilio/voice", fixture("call_status__busy") | {"CallSid": "CA" + "9" * 32,
                                                                         "From": "+15125550166"})
    with rt.sessions() as s:
        problem = texting.problem(s, rt.config, s.get(SubAccount, sub.id))
    assert problem is not None and problem.short == "Twilio 20003" and "connect the Twilio account again" in problem.fix


def test_a_number_released_in_twilio_shows_as_not_texting_at_the_next_check(ringback, rt, client, installed,
                                                                          fake_twilio):
    from datetime import timedelta

    import time_machine

    from integration import texting
    from integration.worker import tasks
    from integration.models import utcnow
    fake_twilio.own_number(ACCOUNT_SID, NUMBER)
    fake_twilio.add_service(ACCOUNT_SID, [NUMBER], campaign_status="VERIFIED")
    assert ringback("subaccount", "number", "1", "--assign", NUMBER).exit_code == 0
    with rt.sessions() as s:
        assert texting.problem(s, rt.config, s.get(SubAccount, 1)) is None
    # Released in the Twilio console, not through Ringback: it just disappears from the account.
    sid = _number(fake_twilio, NUMBER)["sid"]
    del fake_twilio.numbers[sid]
    with time_machine.travel(utcnow() + timedelta(hours=7), tick=False):
        tasks.sender_checks.call_local()
    with rt.sessions() as s:
        found = texting.problem(s, rt.config, s.get(SubAccount, 1))
    assert found.short == "number gone" and f"{NUMBER} is no longer a number of the Twilio account" in found.why
    assert "CANNOT: number gone" in ringback("subaccount", "list").output
