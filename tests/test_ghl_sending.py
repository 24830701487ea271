"""GoHighLevel sub-accounts that send through their own conversations, and Twilio texts logged there."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from integration.worker import steps
from integration.cli import main
from integration.models import Installation, Message, Recovery, Step, SubAccount, SyncOp, utcnow
from integration.settings_store import save_text_back
from tests.conftest import CALLER
from tests.vendors.ghl import EVENT_CONTACT, LOCATION, known_caller, missed_call, outbound, raw, send, signed
from tests.vendors.twilio import fixture as twilio_fixture
from tests.vendors.twilio import post as twilio_post

PROVIDER_ID = "6650f3b2c1d4e5a6b7c8d9e0"


def _send_via_ghl(rt, sub_id: int) -> None:
    with rt.sessions.begin() as s:
        save_text_back(s, s.get(SubAccount, sub_id), send_via="ghl")


def _messages(rt):
    with rt.sessions() as s:
        return s.scalars(select(Message).order_by(Message.id)).all()


def _post_event(client, keys, payload: dict):
    import json
    from datetime import datetime, timezone
    payload = payload | {"timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
                         "webhookId": f"wh-{payload['messageId']}-{payload['status']}"}
    body = json.dumps(payload).encode()
    return send(client, body, signed(body, keys))


def test_text_back_goes_out_of_the_location_inbox_and_its_delivery_is_written_back(
        client, rt, ghl_crm_sub, fake_twilio, fake_ghl, ghl_signing_keys):
    _send_via_ghl(rt, ghl_crm_sub.id)
    known_caller(fake_ghl)
    missed_call(client, ghl_signing_keys)
    assert fake_twilio.messages == []  # not through Ringback's Twilio
    [text] = outbound(fake_ghl)
    assert text["contactId"] == EVENT_CONTACT and text["_to"] == CALLER and text["source"] == "api"
    assert "Acme Plumbing" in text["body"] and "https://ringback.example.com/b/" in text["body"]
    [msg] = _messages(rt)
    assert (msg.provider, msg.provider_sid, msg.status) == ("ghl", text["id"], "queued")
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Texted back"
    # Already in GoHighLevel's conversation: a note, but no second copy of the text.
    assert len(fake_ghl.notes) == 1 and len(fake_ghl.messages) == 1

    resp = _post_event(client, ghl_signing_keys, fake_ghl.set_message_status(text["id"], "delivered"))
    assert resp.json == {"status": "accepted"}
    assert _messages(rt)[0].status == "delivered"
    assert [f["fieldValue"] for f in opp["customFields"]] == ["delivered"]


def test_a_contact_deleted_since_the_call_is_found_again_by_phone(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                                  ghl_signing_keys):
    _send_via_ghl(rt, ghl_crm_sub.id)
    missed_call(client, ghl_signing_keys)  # names contact gb7laj5..., which this location no longer has
    [text] = outbound(fake_ghl)
    [contact] = fake_ghl.contacts.values()
    assert contact["phone"] == CALLER and text["contactId"] == contact["id"] != EVENT_CONTACT


def test_a_throttled_send_waits_for_gohighlevels_interval_and_sends_once(client, rt, ghl_crm_sub, fake_twilio,
                                                                         fake_ghl, ghl_signing_keys):
    _send_via_ghl(rt, ghl_crm_sub.id)
    known_caller(fake_ghl)
    fake_ghl.fail_next(429, headers={"X-RateLimit-Interval-Milliseconds": "2500"})
    missed_call(client, ghl_signing_keys)
    assert outbound(fake_ghl) == []
    with rt.sessions() as s:
        step = s.scalar(select(Step).where(Step.kind == "text_back"))
    assert step.status == "pending" and "429" in step.last_error
    assert 2.0 <= (step.due_at - utcnow()).total_seconds() <= 2.6
    assert steps.run_step(rt, step.id, now=utcnow() + timedelta(seconds=3)).summary.startswith("sent ")
    assert len(outbound(fake_ghl)) == 1
    assert _messages(rt)[0].provider_sid == outbound(fake_ghl)[0]["id"]


def test_a_send_gohighlevel_took_but_answered_502_is_found_not_repeated(client, rt, ghl_crm_sub, fake_twilio,
                                                                        fake_ghl, ghl_signing_keys):
    _send_via_ghl(rt, ghl_crm_sub.id)
    known_caller(fake_ghl)
    fake_ghl.fail_after_sending(502)
    missed_call(client, ghl_signing_keys)
    [text] = outbound(fake_ghl)
    with rt.sessions() as s:
        step = s.scalar(select(Step).where(Step.kind == "text_back"))
    assert step.status == "pending" and _messages(rt)[0].status == "pending"  # maybe sent: look first
    outcome = steps.run_step(rt, step.id, now=utcnow() + timedelta(seconds=2))
    assert outcome.summary == f"sent {text['id']} (queued)"
    assert len(outbound(fake_ghl)) == 1


def test_an_expired_location_token_is_refreshed_once_and_the_text_sent(client, rt, fake_twilio, fake_ghl,
                                                                       ghl_signing_keys):
    access, refresh = fake_ghl.install_oauth(LOCATION)
    fake_ghl.install(LOCATION, access)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="ghl", external_id=LOCATION, phone_number=None,
                         timezone="America/Chicago", business_hours="24/7", booking_url=None)
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="ghl", kind="oauth", access_token=rt.vault.seal(access),
                           refresh_token=rt.vault.seal(refresh)))
        save_text_back(s, sub, send_via="ghl")
    known_caller(fake_ghl)
    fake_ghl.expire(LOCATION)
    missed_call(client, ghl_signing_keys)  # no Twilio number at all: the location's own is used
    [text] = outbound(fake_ghl)
    assert "_from" in text and text["_from"] is None
    assert fake_ghl.refreshes == 1 and fake_ghl.refused_refreshes == 0


def test_twilio_texts_are_logged_in_the_gohighlevel_conversation_when_a_provider_is_set(
        client, rt, ghl_crm_sub, fake_twilio, fake_ghl, ghl_signing_keys):
    rt.config = replace(rt.config, ghl_conversation_provider_id=PROVIDER_ID)
    missed_call(client, ghl_signing_keys)
    [sent] = fake_twilio.messages
    twilio_post(client, "/webhooks/twilio/sms", twilio_fixture("inbound_sms__reply"))
    [conv] = fake_ghl.conversations.values()
    [_, answer] = fake_twilio.messages  # Ringback's answer to the (urgent) reply
    logged = [(m["direction"], m["body"], m["conversationProviderId"], m["conversationId"]) for m in fake_ghl.messages]
    assert logged == [("outbound", sent["body"], PROVIDER_ID, conv["id"]),
                      ("inbound", twilio_fixture("inbound_sms__reply")["Body"], PROVIDER_ID, conv["id"]),
                      ("outbound", answer["body"], PROVIDER_ID, conv["id"])]
    assert conv["contactId"] == next(iter(fake_ghl.contacts))
    with rt.sessions() as s:
        assert all(op.status == "done" for op in s.scalars(select(SyncOp)))


def test_without_a_provider_id_twilio_texts_are_notes_only(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                           ghl_signing_keys):
    missed_call(client, ghl_signing_keys)
    assert len(fake_twilio.messages) == 1 and fake_ghl.messages == [] and len(fake_ghl.notes) == 1


def test_a_reply_in_the_gohighlevel_inbox_moves_the_recovery(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                             ghl_signing_keys):
    _send_via_ghl(rt, ghl_crm_sub.id)
    known_caller(fake_ghl)
    missed_call(client, ghl_signing_keys)
    body = raw("inbound_message__sms_reply")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    with rt.sessions() as s:
        assert s.scalar(select(Recovery.state)) == "replied"
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Replied"
    # The reply is GoHighLevel's own message (not logged again); Ringback's answer to it goes
    # back the same way, through the location's conversation.
    [first, answer] = fake_ghl.messages
    assert answer["direction"] == "outbound" and answer["body"].startswith("We're on it: Acme Plumbing")
    assert fake_twilio.messages == []


def test_send_via_ghl_is_refused_for_other_sub_accounts(rt, sub, config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    result = CliRunner().invoke(main, ["subaccount", "settings", str(sub.id), "--send-via", "ghl"])
    assert result.exit_code == 1
    assert "send_via ghl needs a GoHighLevel sub-account; Acme Plumbing is on twilio" in result.output


def test_send_via_ghl_is_shown_by_the_settings_command(rt, ghl_crm_sub, config, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", config.database_url)
    monkeypatch.setenv("RINGBACK_DATA_DIR", str(config.data_dir))
    result = CliRunner().invoke(main, ["subaccount", "settings", str(ghl_crm_sub.id), "--send-via", "ghl"])
    assert result.exit_code == 0, result.output
    assert "texts sent through the GoHighLevel location's conversations" in result.output


@pytest.mark.parametrize("value", ["sms", "GHL", ""])
def test_an_unknown_sender_is_refused_with_its_name(rt, ghl_crm_sub, value):
    with rt.sessions.begin() as s, pytest.raises(ValueError, match="send_via must be one of twilio, ghl"):
        save_text_back(s, s.get(SubAccount, ghl_crm_sub.id), send_via=value)


def test_gohighlevels_own_missed_call_text_back_is_detected_and_warned_about(client, rt, ghl_crm_sub, fake_twilio,
                                                                            fake_ghl, ghl_signing_keys):
    known_caller(fake_ghl)
    missed_call(client, ghl_signing_keys)  # Ringback texts back...
    body = raw("outbound_message__sms_missed_call_text_back")  # ...and so does GoHighLevel, by itself
    assert send(client, body, signed(body, ghl_signing_keys)).json == {"status": "accepted"}
    person = raw("outbound_message__sms_from_app")  # a person answering is not a double text
    send(client, person, signed(person, ghl_signing_keys))
    doubles = [m for m in _messages(rt) if m.status == "sent_by_crm"]
    assert len(doubles) == 1 and doubles[0].body.startswith("Hi, sorry we missed your call")
    with client.session_transaction() as session:
        session["viewer"] = {"provider": "ghl", "user": "dana@acme.example", "agency_id": None,
                            "sub_ids": [ghl_crm_sub.id], "expires": 4102444800.0}
    page = client.get(f"/settings/{ghl_crm_sub.id}").data.decode()
    assert "GoHighLevel itself also texted 1 caller(s) within two minutes" in page


def test_each_job_reads_the_location_installation_once(client, rt, ghl_crm_sub, fake_twilio, fake_ghl,
                                                       ghl_signing_keys):
    """A call that names only its contact: the job reads the installation (and unseals its token) once
    to ask GoHighLevel the caller's number and to text through the inbox; the CRM writes, a job of
    their own, once for all four."""
    from sqlalchemy import event
    _send_via_ghl(rt, ghl_crm_sub.id)
    known_caller(fake_ghl)
    reads = []

    def seen(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM installations" in statement:
            reads.append(statement)
    event.listen(rt.engine, "before_cursor_execute", seen)
    body = raw("inbound_message__call_voicemail_without_numbers")
    try:
        assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)
    [text] = outbound(fake_ghl)
    assert text["_to"] == CALLER
    [opp] = fake_ghl.opportunities.values()
    assert fake_ghl.stage_name(opp) == "Texted back" and len(fake_ghl.notes) == 1
    assert len(reads) == 2, reads
