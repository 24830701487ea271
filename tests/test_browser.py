"""The settings page in a real browser (Debian's Chromium driven by Playwright), embedded the way
GoHighLevel embeds it: an iframe whose parent answers REQUEST_USER_DATA with the encrypted user.

Toggle the text back, edit a template and watch the live preview, save, and the next missed
call follows the new setting.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from flask import Flask

from tests.conftest import REQUIRE_SERVICES, sign
from tests.fakes.server import LoopbackServer
from tests.servers import start_server, wait_until
from tests.vendors.ghl import SSO_KEY, cryptojs_encrypt
from tests.vendors.twilio import fixture

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
LOCATION = "yLKVZpNppIdYpah4RjNE"
CHROMIUM = os.environ.get("RINGBACK_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Chromium as the machine's probe starts it: no sandbox as root, no background network calls
# (a closed network refuses them, many at a time).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's package, installed by scripts/services), through Playwright."""
    if not os.path.exists(CHROMIUM):
        message = f"Chromium is not installed at {CHROMIUM}"
        if REQUIRE_SERVICES:
            pytest.fail(message + "; scripts/services installs it under CI", pytrace=False)
        pytest.skip(message + ": browser tests are skipped (run ./scripts/test to install it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def ghl_host(ringback_url: str, payload: str) -> Flask:
    """GoHighLevel's side of a custom page: the iframe, and the answer to REQUEST_USER_DATA."""
    app = Flask("fake-ghl-custom-page")

    @app.get("/v2/location/<location>/custom-page-link/ringback")
    def custom_page(location):
        return f"""<!doctype html><title>HighLevel</title>
<iframe id="ringback" src="{ringback_url}/embed/ghl" style="width:1100px;height:1800px;border:0"></iframe>
<script>
window.addEventListener("message", (e) => {{
  if (e.data && e.data.message === "REQUEST_USER_DATA")
    e.source.postMessage({{ message: "REQUEST_USER_DATA_RESPONSE", payload: "{payload}" }}, "*");
}});
</script>"""
    return app


AGENCY_COMPANY = "GNb7aIv4rQFVb9iwNl5K"  # the GoHighLevel agency (companyId) of the agency tests


@contextmanager
def _as_agency_admin(browser, server):
    """(page, frame): Ringback's agency page in GoHighLevel's agency view, opened by its admin."""
    from playwright.sync_api import expect
    user = {"userId": "MKQJ7wOVVmNOMvrnKKKK", "companyId": AGENCY_COMPANY, "role": "admin", "type": "agency",
            "userName": "Sam Owner", "email": "sam@agency.example"}
    with LoopbackServer(ghl_host(server["url"], cryptojs_encrypt(user, SSO_KEY))) as host:
        page = browser.new_page()
        page.goto(f"{host.url}/v2/location/agency/custom-page-link/ringback")
        frame = page.frame_locator("#ringback")
        expect(frame.locator("h1")).to_have_text("Ringback", timeout=15000)
        yield page, frame


def _save(page, frame) -> None:
    """Click Save and wait for the saved page: the form's answer, not a "Saved" line still on
    screen from the save before (the page is already /settings/<id>?saved=1 then)."""
    from playwright.sync_api import expect
    import re
    form_post = re.compile(r"/settings/\d+(\?saved=1)?$")  # not the live preview's /settings/<id>/preview
    with page.expect_response(lambda r: r.request.method == "POST" and form_post.search(r.url)) as answer:
        frame.locator("#save").click()
    assert answer.value.status == 302, answer.value.status
    expect(frame.locator("#saved")).to_be_visible()


def _outcome(db_url: str, sid: str) -> str | None:
    """What Ringback decided for this call, read from its database."""
    from sqlalchemy import select

    from integration.db import make_engine, make_sessionmaker
    from integration.models import Call
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            return s.scalar(select(Call.outcome).where(Call.call_id == sid))
    finally:
        engine.dispose()


def _missed_call(server, sid: str):
    params = fixture("call_status__no_answer") | {"CallSid": sid}
    url = server["url"] + "/webhooks/twilio/voice"
    resp = requests.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)}, timeout=5)
    assert resp.status_code == 200


def test_toggle_edit_preview_save_and_the_next_call_follows(request, browser, db_url, fake_twilio, tmp_path):
    from playwright.sync_api import expect
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={"GHL_SSO_KEY": SSO_KEY},
                          add_args=["--ghl-location", LOCATION])
    user = {"userId": "MKQJ7wOVVmNOMvrnKKKK", "companyId": "GNb7aIv4rQFVb9iwNl5K", "role": "admin",
            "type": "location", "activeLocation": LOCATION, "userName": "Dana Reyes", "email": "dana@acme.example"}
    try:
        with LoopbackServer(ghl_host(server["url"], cryptojs_encrypt(user, SSO_KEY))) as host:
            page = browser.new_page()
            page.goto(f"{host.url}/v2/location/{LOCATION}/custom-page-link/ringback")
            frame = page.frame_locator("#ringback")
            expect(frame.locator("h1")).to_have_text("Ringback for Acme Plumbing", timeout=15000)
            expect(frame.get_by_text("dana@acme.example")).to_be_visible()

            # Switch it off: the next missed call is not texted.
            frame.locator("#enabled").uncheck()
            _save(page, frame)
            _missed_call(server, "CA" + "1" * 32)
            wait_until(lambda: _outcome(db_url, "CA" + "1" * 32) == "suppressed", what="the call decided, not texted")
            assert fake_twilio.messages == []

            # Back on, with new wording: the preview follows each keystroke, with its segment count.
            frame.locator("#enabled").check()
            box = frame.locator("#business_hours_template")
            box.fill("{business_name}: sorry we missed you, {first_name}! Book here: {booking_link}")
            preview = frame.locator('[data-preview="business_hours"]')
            # The first text to a caller carries the opt-out wording: the preview shows it too.
            expect(preview).to_have_text("Acme Plumbing: sorry we missed you, there! Book here: "
                                         "https://acme.example/book Reply STOP to opt out.")
            expect(frame.locator('[data-count="business_hours"]')).to_contain_text("1 segment(s), GSM-7")
            box.press_sequentially(" 🙂")
            expect(frame.locator('[data-count="business_hours"]')).to_contain_text("UCS-2")
            # A text that costs several segments says so while it is typed.
            warning = frame.locator('[data-length-warning="business_hours"]')
            expect(warning).to_have_text("")
            box.fill("{business_name}: sorry we missed you! " * 12 + "{booking_link}")
            expect(warning).to_contain_text("segments in GSM-7: each segment is billed as a text")
            box.fill("{business_name}: sorry we missed you, {first_name}! Book here: {booking_link}")
            box.press_sequentially(" {oops}")
            expect(preview).to_contain_text("oops")
            expect(preview).to_have_class("preview error")
            box.fill("{business_name}: sorry we missed you, {first_name}! Book here: {booking_link}")
            _save(page, frame)
            expect(frame.locator("#enabled")).to_be_checked()

            _missed_call(server, "CA" + "2" * 32)
            sent = fake_twilio.wait_for(1, timeout=20)
            if len(sent) != 1:
                server["log"].seek(0)
                pytest.fail("the call after switching back on was not texted:\n" + server["log"].read()[-4000:])
            [text] = sent
            assert text["body"].startswith("Acme Plumbing: sorry we missed you, there! Book here: "
                                           + server["url"] + "/b/")
            page.close()
    finally:
        server["stop"]()


def test_connect_twilio_pick_a_number_and_send_a_test_text(request, browser, db_url, fake_twilio, tmp_path):
    """In development: the agency page connects a Twilio account, the number page gives the
    sub-account one of its numbers, and the test text goes out of it through that account."""
    from playwright.sync_api import expect
    sid, token, number = "AC" + "c3" * 16, "c3" * 16, "+15125550175"
    fake_twilio.add_account(sid, token)
    fake_twilio.own_number(sid, number, sms_url="https://old-provider.example/sms")
    server = start_server(request, db_url, fake_twilio, tmp_path)
    try:
        import subprocess
        from tests.servers import RINGBACK
        released = subprocess.run([RINGBACK, "subaccount", "number", "1", "--release"], env=server["env"],
                                  capture_output=True, text=True, timeout=60)
        assert released.returncode == 0, released.stderr  # as a CRM install leaves it: no number
        page = browser.new_page()
        page.goto(server["url"] + "/")
        page.locator("#open-agency").click()
        expect(page.locator("h1")).to_have_text("Ringback")
        expect(page).to_have_title("Ringback - your sub-accounts")
        page.locator("#account_sid").fill(sid)
        page.locator("#auth_token").fill("not-the-token")
        page.locator("#connect-twilio").click()
        expect(page.locator("#twilio-error")).to_contain_text("Twilio refused these credentials")
        page.locator("#account_sid").fill(sid)
        page.locator("#auth_token").fill(token)
        page.locator("#connect-twilio").click()
        expect(page.locator("#twilio-connected")).to_be_visible()
        expect(page.locator("#subaccounts")).to_contain_text("cannot text: no number")

        page.locator("#number-1").click()
        expect(page.locator("#numbers")).to_contain_text(number)
        expect(page.locator("#monthly-price")).to_have_text("1.15 USD a month")  # Twilio's Pricing API
        page.locator("#pick-1").check()
        page.locator("#assign").click()  # its SMS URL points elsewhere and "replace" is not ticked
        expect(page.locator("#number-error")).to_contain_text("nothing changed")
        page.locator("#pick-1").check()
        page.locator("#replace").check()
        page.locator("#assign").click()
        expect(page.locator("#saved")).to_be_visible()
        expect(page.locator("#sender")).to_contain_text(number)

        page.locator("#test_phone").fill("+1 512 555 0123")
        page.locator("#send-test").click()
        expect(page.locator("#test-result")).to_contain_text(f"Sent from {number} to +15125550123 through Twilio")
        [text] = fake_twilio.messages
        assert (text["from"], text["account_sid"]) == (number, sid) and text["body"].startswith("[Test]")
        wired = next(n for n in fake_twilio.numbers.values() if n["phone_number"] == number)
        assert wired["sms_url"] == server["url"] + "/webhooks/twilio/sms"
        page.close()
    finally:
        server["stop"]()


def test_an_agency_admin_reads_sorts_narrows_and_exports_the_dashboard(request, browser, db_url, fake_twilio,
                                                                       tmp_path):
    """An agency admin opens Ringback from GoHighLevel's agency view (its SSO), goes to the
    dashboard, sorts the sub-accounts by revenue, narrows to one of them, and downloads the CSV;
    the figures on screen are the report's for that period."""
    from playwright.sync_api import expect

    from bench.agency_history import generate
    from integration import report
    from integration.db import make_engine, make_sessionmaker
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    history = generate(sessions, subs=6, days=40, calls=1500, company=AGENCY_COMPANY)
    today = history.until.date()
    with sessions() as s:
        expected = report.collect(s, sub_account_ids=history.sub_ids, since=today - timedelta(days=29), until=today)
        sub_id = history.sub_ids[0]
        from integration.models import SubAccount
        sub = s.get(SubAccount, sub_id)
        local_today = history.until.astimezone(ZoneInfo(sub.timezone)).date()
        one = report.collect(s, sub_account_ids=[sub_id], since=local_today - timedelta(days=6), until=local_today,
                             tz=sub.timezone)
    engine.dispose()
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={"GHL_SSO_KEY": SSO_KEY})
    try:
        with _as_agency_admin(browser, server) as (page, frame):
            frame.locator("#open-dashboard").click()
            expect(frame.locator("h1")).to_have_text("Dashboard")
            expect(frame.locator("#t-missed")).to_have_text(str(expected.total.missed_calls))
            expect(frame.locator("#t-booked")).to_have_text(str(expected.total.booked))
            expect(frame.locator("#t-revenue")).to_have_text(f"${expected.total.revenue:,.0f}")
            expect(frame.locator("#by-day-table tr:last-child th:nth-child(9)")).to_have_text(
                f"${expected.total.revenue:,.2f}")  # the total to the cent
            expect(frame.locator("#funnel-texted")).to_contain_text(str(expected.total.texted))
            expect(frame.locator("#by-day svg rect")).to_have_count(2 * 30)

            frame.locator("#sort-revenue").click()
            expect(frame.locator("#sort-revenue")).to_contain_text("▼")
            cells = frame.locator("#by-sub tr td:nth-child(9)").all_inner_texts()
            amounts = [float(c.strip("$").replace(",", "")) for c in cells]
            assert len(amounts) == 6 and amounts == sorted(amounts, reverse=True)

            frame.locator("#sub").select_option(str(sub_id))
            frame.locator("#period").select_option("7")
            frame.locator("#show").click()
            expect(frame.locator("#scope")).to_contain_text(sub.name)
            expect(frame.locator("#t-missed")).to_have_text(str(one.total.missed_calls))
            expect(frame.locator("#by-sub")).to_have_count(0)  # one sub-account: no table of them

            with page.expect_download() as download:
                frame.locator("#csv-days").click()
            rows = download.value.path().read_text().splitlines()
            assert rows[0].startswith("day,missed_calls,texted") and rows[-1].startswith("total,")
            assert rows[-1].split(",")[1] == str(one.total.missed_calls)

            frame.locator("#period").select_option("custom")
            frame.locator("#since").fill("2026-05-02")
            frame.locator("#until").fill("2026-05-01")
            frame.locator("#show").click()
            expect(frame.locator("#dashboard-error")).to_contain_text("until: the last day is before the first")
            page.close()
    finally:
        server["stop"]()


def test_an_agency_admin_works_through_health_and_sets_the_agency_defaults(request, browser, db_url, fake_twilio,
                                                                           tmp_path):
    """From GoHighLevel's agency view: the health list says what to fix first, a failed CRM write is
    retried from it, the agency's default texts are refused with a bad merge field and then saved,
    and the change is undone from the agency page's history."""
    from playwright.sync_api import expect

    from bench.agency_history import generate
    from integration.db import make_engine, make_sessionmaker
    from integration.models import SyncOp
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    history = generate(sessions, subs=3, days=10, calls=60, company=AGENCY_COMPANY)
    with sessions.begin() as s:  # a write GoHighLevel refused for good, as the sync log keeps it
        s.add(SyncOp(sub_account_id=history.sub_ids[0], recovery_id=1, provider="ghl", op="note",
                     payload={"body": "Missed call"}, status="failed", attempts=5,
                     last_error="GoHighLevel POST /contacts/x/notes: 422 body too long"))
    engine.dispose()
    server = start_server(request, db_url, fake_twilio, tmp_path, env_extra={"GHL_SSO_KEY": SSO_KEY})
    try:
        with _as_agency_admin(browser, server) as (page, frame):
            frame.locator("#open-health").click()
            expect(frame.locator("h1")).to_have_text("Health")
            expect(frame.locator("#summary")).to_contain_text("3 of 3 sub-account(s) need attention")
            expect(frame.locator("#concerns tr.concern-not_texting").first).to_contain_text("no number to text from")
            expect(frame.locator("#failed-writes")).to_contain_text("422 body too long")
            frame.locator("#retry-all").click()
            expect(frame.locator("#retried")).to_contain_text("1 write(s) put back in line")

            frame.locator("a", has_text="Sub-accounts and settings").click()
            frame.locator("#open-defaults").click()
            expect(frame.locator("h1")).to_have_text("Agency defaults")
            frame.locator("#business_hours_template").fill("{business_name}: sorry we missed you, {nickname}!")
            frame.locator("#save-defaults").click()
            expect(frame.locator("#defaults-error")).to_contain_text("nickname")
            expect(frame.locator("#business_hours_template")).to_have_value(
                "{business_name}: sorry we missed you, {nickname}!")  # what was typed is kept
            frame.locator("#business_hours_template").fill("{business_name}: sorry we missed you! {booking_link}")
            frame.locator("#save-defaults").click()
            expect(frame.locator("#defaults-saved")).to_be_visible()
            expect(frame.locator("#business_hours_template")).to_have_value(
                "{business_name}: sorry we missed you! {booking_link}")

            frame.locator("a", has_text="Sub-accounts and settings").click()
            expect(frame.locator("#bulk-history")).to_contain_text("agency defaults: follow_ups, missed_call_text_back")
            frame.locator("#bulk-history button").first.click()
            expect(frame.locator("#bulk-undone")).to_be_visible()
            frame.locator("#open-defaults").click()
            expect(frame.locator("#business_hours_template")).to_have_value("")
            page.close()
    finally:
        server["stop"]()
