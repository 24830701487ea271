"""HubSpot's 30-minute tokens and Salesforce's sessions: refreshed once, stored sealed, the work repeated."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from integration import tokens
from integration.models import Call, Installation, SubAccount, SyncOp, utcnow
from tests.conftest import BUSINESS_NUMBER, SF_LEAD
from tests.vendors.hubspot import missed_call as hubspot_missed_call
from tests.vendors.hubspot import PORTAL
from tests.vendors.salesforce import send as salesforce_send


def _inst(rt) -> Installation:
    with rt.sessions() as s:
        return s.scalar(select(Installation))


def _ops(rt):
    with rt.sessions() as s:
        return s.scalars(select(SyncOp).order_by(SyncOp.id)).all()


@pytest.fixture
def hubspot_oauth_sub(rt, fake_hubspot):
    """A HubSpot portal installed through OAuth, its access token good for 25 more minutes."""
    access, refresh = fake_hubspot.install_oauth(PORTAL)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="hubspot", external_id=PORTAL, phone_number=BUSINESS_NUMBER,
                         timezone="America/Chicago", business_hours="24/7")
        s.add(sub)
        s.flush()
        s.add(Installation(sub_account_id=sub.id, provider="hubspot", kind="oauth", access_token=rt.vault.seal(access),
                           refresh_token=rt.vault.seal(refresh), expires_at=utcnow() + timedelta(minutes=25)))
    return sub


@pytest.fixture
def salesforce_oauth_sub(rt, salesforce_sub, fake_salesforce):
    """The org's sub-account, installed through OAuth (a session and a refresh token)."""
    with rt.sessions.begin() as s:
        inst = s.scalar(select(Installation))
        inst.kind, inst.refresh_token = "oauth", rt.vault.seal(fake_salesforce.issue_refresh_token())
    return salesforce_sub


def test_hubspot_token_refused_is_refreshed_and_every_write_lands(client, rt, hubspot_oauth_sub, fake_hubspot,
                                                                  fake_twilio):
    fake_hubspot.expire(PORTAL)
    hubspot_missed_call(client, fake_hubspot)  # the call itself is fetched with the refreshed token
    assert len(fake_twilio.messages) == 1
    assert fake_hubspot.refreshes == 1
    assert all(op.status == "done" for op in _ops(rt)), [(o.op, o.last_error) for o in _ops(rt)]
    inst = _inst(rt)
    assert fake_hubspot.tokens[rt.vault.open(inst.access_token)] == PORTAL
    assert 1700 < (inst.expires_at - utcnow()).total_seconds() <= 1800
    assert inst.refreshed_at is not None and inst.last_write_at is not None


def test_hubspot_token_about_to_expire_is_refreshed_before_it_is_used(client, rt, hubspot_oauth_sub, fake_hubspot,
                                                                      fake_twilio):
    with rt.sessions.begin() as s:
        s.scalar(select(Installation)).expires_at = utcnow() + timedelta(minutes=2)
    old = rt.vault.open(_inst(rt).access_token)
    hubspot_missed_call(client, fake_hubspot)
    assert fake_hubspot.refreshes == 1
    assert fake_hubspot.requests[0] == "POST /oauth/v1/token"  # before the first API call
    assert rt.vault.open(_inst(rt).access_token) != old
    assert all(op.status == "done" for op in _ops(rt))


def test_salesforce_expired_session_is_refreshed_and_the_client_rebuilt(client, rt, salesforce_oauth_sub,
                                                                        fake_salesforce, fake_twilio):
    fake_salesforce.expire()
    assert salesforce_send(client, "outbound_message__task_no_answer").status_code == 200
    assert len(fake_twilio.messages) == 1
    assert fake_salesforce.refreshes == 1
    assert fake_salesforce.records[("Lead", SF_LEAD)]["Status"] == "Texted back"
    inst = _inst(rt)
    assert rt.vault.open(inst.access_token) == fake_salesforce.session_id
    assert inst.instance_url == fake_salesforce.url
    assert rt.vault.open(inst.refresh_token) in fake_salesforce.refresh_tokens  # Salesforce keeps it
    assert inst.expires_at is None  # a session lasts as the org's policy says: refreshed when refused


def test_salesforce_refresh_refused_is_kept_with_salesforces_reason(client, rt, salesforce_oauth_sub, fake_salesforce,
                                                                    fake_twilio):
    fake_salesforce.refresh_tokens.clear()  # an admin revoked the app's access
    fake_salesforce.expire()
    salesforce_send(client, "outbound_message__task_no_answer")
    # Who the caller is could not be read: the call is recorded, not texted, with the reason.
    with rt.sessions() as s:
        call = s.scalar(select(Call))
    assert call.outcome == "unusable_number"
    assert "Salesforce refused the refresh: 400 expired access/refresh token" in call.reason
    assert fake_twilio.messages == []


def test_a_token_another_worker_just_refreshed_is_used_not_refreshed_again(rt, hubspot_oauth_sub, fake_hubspot):
    stale = rt.vault.open(_inst(rt).access_token)
    fake_hubspot.expire(PORTAL)
    first = tokens.refresh(rt, _inst(rt).id, stale)
    second = tokens.refresh(rt, _inst(rt).id, stale)
    assert first == second and fake_hubspot.refreshes == 1


def _refresh_in_process(config, installation_id, stale, barrier, results):
    from integration.runtime import Runtime
    rt = Runtime(config)
    barrier.wait(timeout=30)
    try:
        results.put(tokens.refresh(rt, installation_id, stale))
    except Exception as exc:  # noqa: BLE001 (reported to the test)
        results.put(f"error: {exc}")
    finally:
        rt.close()


def test_two_processes_refreshing_at_once_spend_gohighlevels_single_use_token_once(config, rt, fake_ghl):
    """Two worker processes find the same location token refused at the same moment."""
    import multiprocessing

    from tests.vendors.ghl import LOCATION
    access, refresh = fake_ghl.install_oauth(LOCATION)
    with rt.sessions.begin() as s:
        sub = SubAccount(name="Acme Plumbing", provider="ghl", external_id=LOCATION, timezone="America/Chicago",
                         business_hours="24/7")
        s.add(sub)
        s.flush()
        inst = Installation(sub_account_id=sub.id, provider="ghl", kind="oauth", access_token=rt.vault.seal(access),
                            refresh_token=rt.vault.seal(refresh))
        s.add(inst)
        s.flush()
        inst_id = inst.id
    fake_ghl.expire(LOCATION)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_refresh_in_process, args=(config, inst_id, access, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert fake_ghl.refreshes == 1 and fake_ghl.refused_refreshes == 0, got
    assert got[0] == got[1] == fake_ghl.tokens[LOCATION]
    # Exactly one refresh token is alive at GoHighLevel, and it is the one stored.
    alive = [t for t, loc in fake_ghl.refresh_tokens.items() if loc == LOCATION]
    assert len(alive) == 1 and rt.vault.open(_inst(rt).refresh_token) == alive[0]
