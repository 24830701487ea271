"""The agency's health list (/agency/health): a GoHighLevel agency installed from the marketplace
sees what needs attention first across its sub-accounts, each with the CRM's own account id and
its one fix: a location that cannot text, a token GoHighLevel refuses, calls that stopped
arriving, CRM writes that failed (retried from the page, one or all, with GoHighLevel's own
words), GoHighLevel's own text back doubling Ringback's. Nothing of another sub-account's reaches
a location user."""
from __future__ import annotations

import re
from datetime import timedelta

from bench.agency_history import generate
from integration.models import Installation, SyncOp, utcnow
from sqlalchemy import select
from tests.marketplace import (COMPANY, LOC_A, LOC_B, agency_signed_in, csrf, generated_agency_signed_in,
                               location_user_signed_in)
from tests.vendors.ghl import raw, send, signed


def _concerns(page: str) -> list[tuple[str, str]]:
    """(kind, sub-account name) of each row of the list, in order."""
    return re.findall(r'<tr class="concern-([a-z_]+)"><td>([^<]+)<br>', page)


def test_what_needs_attention_comes_first_with_its_fix(client, agencies, fake_ghl, ghl_signing_keys):
    agency_signed_in(client)
    page = client.get("/agency/health").get_data(as_text=True)
    assert _concerns(page) == [("not_texting", "Bright Dental")]  # no number: the only concern yet
    assert f"ghl {LOC_B}" in page and "ringback subaccount number" in page and "1 of 2 sub-account(s)" in page
    # GoHighLevel's own Missed Call Text Back texts Acme's caller too.
    body = raw("outbound_message__sms_missed_call_text_back")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    page = client.get("/agency/health").get_data(as_text=True)
    assert _concerns(page) == [("not_texting", "Bright Dental"), ("doubled", "Acme Plumbing")]
    assert "they got two texts" in page and "2 of 2 sub-account(s)" in page


def test_a_failed_crm_write_shows_the_vendors_words_and_is_retried_from_the_page(client, rt, agencies, fake_ghl,
                                                                                ghl_signing_keys):
    page = agency_signed_in(client)
    [(opp_id, opportunity)] = list(fake_ghl.opportunities.items())
    del fake_ghl.opportunities[opp_id]  # someone deletes Ringback's opportunity in GoHighLevel...
    body = raw("inbound_message__sms_reply")  # ...and the caller replies: the move to Replied fails for good
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    page = client.get("/agency/health").get_data(as_text=True)
    assert ("failed_writes", "Acme Plumbing") in _concerns(page)
    assert "Opportunity not found" in page  # GoHighLevel's own words, beside the write
    op_id = re.search(r'name="op_id" value="(\d+)"', page).group(1)
    fake_ghl.opportunities[opp_id] = opportunity  # restored from GoHighLevel's recycle bin
    retried = client.post("/agency/sync/retry", data={"csrf_token": csrf(page), "op_id": op_id})
    assert retried.status_code == 302
    after = client.get(retried.headers["Location"]).get_data(as_text=True)
    assert "1 write(s) put back in line" in after and 'id="no-failed-writes"' in after
    assert ("failed_writes", "Acme Plumbing") not in _concerns(after)
    assert fake_ghl.stage_name(fake_ghl.opportunities[opp_id]) == "Replied"
    with rt.sessions() as s:
        assert s.scalar(select(SyncOp.status).where(SyncOp.id == int(op_id))) == "done"
    # Nothing left to retry; an id that is not a failed write of this agency's: refused, nothing done.
    nothing = client.post("/agency/sync/retry", data={"csrf_token": csrf(page)})
    assert nothing.status_code == 400 and "no failed CRM writes to retry" in nothing.get_data(as_text=True)
    for wrong in (op_id, "99999", "abc"):
        answer = client.post("/agency/sync/retry", data={"csrf_token": csrf(page), "op_id": wrong})
        assert answer.status_code == 404 and "among your sub-accounts" in answer.get_data(as_text=True), wrong


def test_a_location_user_sees_and_retries_only_its_own(client, rt, agencies, fake_ghl, ghl_signing_keys):
    del fake_ghl.opportunities[next(iter(fake_ghl.opportunities))]
    body = raw("inbound_message__sms_reply")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200  # Acme's write fails
    with rt.sessions() as s:
        [op_id] = s.scalars(select(SyncOp.id).where(SyncOp.status == "failed")).all()
    assert location_user_signed_in(client, LOC_B, "desk@bright.example")
    page = client.get("/agency/health").get_data(as_text=True)
    assert _concerns(page) == [("not_texting", "Bright Dental")] and "Acme Plumbing" not in page
    token = csrf(client.get(f"/settings/{agencies['ghl'][1][1]}").get_data(as_text=True))
    refused = client.post("/agency/sync/retry", data={"csrf_token": token, "op_id": str(op_id)})
    assert refused.status_code == 404
    with rt.sessions() as s:
        assert s.scalar(select(SyncOp.status).where(SyncOp.id == op_id)) == "failed"  # untouched


def test_a_token_gohighlevel_refuses_is_named_with_the_fix(client, rt, agencies, fake_ghl, ghl_signing_keys):
    # The location's token ran out and the agency's grant was revoked: no refresh can mend it.
    fake_ghl.expire(LOC_A)
    fake_ghl.company_tokens.clear()
    fake_ghl.refresh_tokens.clear()
    with rt.sessions.begin() as s:
        for inst in s.scalars(select(Installation).where(Installation.sub_account_id.is_(None))):
            inst.expires_at = utcnow() - timedelta(minutes=1)
    body = raw("inbound_message__sms_reply")
    send(client, body, signed(body, ghl_signing_keys))
    agency_signed_in(client)
    page = client.get("/agency/health").get_data(as_text=True)
    assert ("token", "Acme Plumbing") in _concerns(page), page[-3000:]
    assert "GoHighLevel refused Ringback&#39;s token" in page and "install Ringback again" in page


def test_calls_that_stopped_arriving_are_noticed(client, rt):
    """A sub-account that heard calls every day until five days ago, and none since."""
    generate(rt.sessions, subs=2, days=30, calls=200, company=COMPANY, now=utcnow() - timedelta(days=5))
    assert generated_agency_signed_in(client)
    page = client.get("/agency/health").get_data(as_text=True)
    quiet = [name for kind, name in _concerns(page) if kind == "quiet"]
    assert len(quiet) == 2 and "no call heard for 5 d" in page and "webhooks may have stopped" in page


def test_the_api_gives_the_same_list_and_retries_all_or_named_writes(client, rt, agencies, tokens, fake_ghl,
                                                                     ghl_signing_keys):
    headers = {"Authorization": f"Bearer {tokens['ghl']}"}
    [(opp_id, opportunity)] = list(fake_ghl.opportunities.items())
    del fake_ghl.opportunities[opp_id]
    body = raw("inbound_message__sms_reply")
    assert send(client, body, signed(body, ghl_signing_keys)).status_code == 200
    health = client.get("/api/v1/health", headers=headers).json
    assert [(c["kind"], c["sub_account_name"]) for c in health["concerns"]] == [
        ("not_texting", "Bright Dental"), ("failed_writes", "Acme Plumbing")]
    assert health["concerns"][0]["crm_account_id"] == LOC_B
    [write] = health["failed_writes"]
    assert write["write"] == "stage" and "Opportunity not found" in write["error"]
    theirs = client.get("/api/v1/health", headers={"Authorization": f"Bearer {tokens['hubspot']}"}).json
    assert theirs["failed_writes"] == [] and all(c["sub_account_name"] != "Acme Plumbing" for c in theirs["concerns"])
    refused = client.post("/api/v1/failed-writes/retry", headers={"Authorization": f"Bearer {tokens['hubspot']}"},
                          json={"ids": [write["id"]]})
    assert refused.status_code == 404  # another agency's write: as if it did not exist, nothing done
    assert client.post("/api/v1/failed-writes/retry", headers=headers, json={}).status_code == 422
    fake_ghl.opportunities[opp_id] = opportunity
    done = client.post("/api/v1/failed-writes/retry", headers=headers, json={"all": True})
    assert done.status_code == 200 and done.json == {"retried": [write["id"]]}
    assert client.get("/api/v1/health", headers=headers).json["failed_writes"] == []
    assert fake_ghl.stage_name(fake_ghl.opportunities[opp_id]) == "Replied"
