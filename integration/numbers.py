"""A sub-account's Twilio number: listed, assigned, bought or released, with the number's webhook
URLs pointed at Ringback and put back as they were. Nothing is left half-way: the database
change and Twilio's are both made or neither (a number bought and then not assigned is
released again)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors.twilio import numbers as twilio_numbers
from connectors.twilio.client import Credentials, with_login, without_login

from . import subaccounts, twilio_accounts
from .db import transaction
from .models import SubAccount
from .settings_store import crm_sends_texts


@dataclass(frozen=True)
class Account:
    sid: str
    client: object
    creds: Credentials


def account_for(rt, sub_id: int) -> Account:
    """The Twilio account the sub-account texts through; ValueError when there is none."""
    with rt.sessions() as s:
        creds = twilio_accounts.credentials_for_sub(s, rt.vault, sub_id)
    creds = creds or rt.environment_credentials()
    if creds is None:
        raise ValueError("no Twilio account to take numbers from: connect one with `ringback twilio connect`")
    return Account(creds.account_sid, creds.client(rt.config.twilio_api_url), creds)


def our_urls(rt, account: Account | None = None) -> dict:
    """Ringback's routes for a number's texts and calls (with our login in them for an account
    connected with an API key, whose webhooks cannot be checked by signature)."""
    base = rt.config.public_url
    login = account.creds.webhook_login if account is not None else None
    return {"sms_url": with_login(f"{base}/webhooks/twilio/sms", login),
            "status_callback": with_login(f"{base}/webhooks/twilio/voice", login)}


def _points_at_us(rt, number: dict, key: str) -> bool:
    return without_login(number[key]) == without_login(our_urls(rt)[key])


def listed(rt, sub_id: int, account: Account | None = None) -> list[dict]:
    """The account's numbers, each with the sub-account using it (if any) and whether it points at Ringback."""
    account = account or account_for(rt, sub_id)
    found = twilio_numbers.incoming(account.client)
    with rt.sessions() as s:
        users = dict(s.execute(select(SubAccount.phone_number, SubAccount.name).where(
            SubAccount.phone_number.in_([n["phone_number"] for n in found]))).all())
    return [n | {"used_by": users.get(n["phone_number"]),
                 "ours": _points_at_us(rt, n, "sms_url") and _points_at_us(rt, n, "status_callback")}
            for n in found]


def foreign_webhooks(rt, number: dict) -> dict:
    """The number's SMS URL and status callback that point somewhere other than Ringback (shown
    without any password in them)."""
    return {k: without_login(number[k]) for k in ("sms_url", "status_callback")
            if number[k] and not _points_at_us(rt, number, k)}


def find(rt, sub_id: int, phone_number: str) -> dict:
    account = account_for(rt, sub_id)
    found = twilio_numbers.incoming(account.client, phone_number)
    if not found:
        raise ValueError(f"{phone_number} is not a number of Twilio account {account.sid}")
    return found[0]


def assign(rt, sub_id: int, phone_number: str, *, replace_ok) -> dict:
    """Give the sub-account ``phone_number`` of its Twilio account and point the number's SMS URL
    and status callback at Ringback. ``replace_ok(foreign)`` is asked when they point elsewhere."""
    account = account_for(rt, sub_id)
    number = find(rt, sub_id, phone_number)
    foreign = foreign_webhooks(rt, number)
    if foreign and not replace_ok(foreign):
        raise ValueError("nothing changed: the number's webhooks point elsewhere and were kept")
    _save_and_point(rt, sub_id, account, number)
    return number


def buy(rt, sub_id: int, area_code: str, *, confirm) -> dict:
    """Buy a local number in ``area_code`` (after ``confirm(number, monthly price or None)``) and
    assign it."""
    account = account_for(rt, sub_id)
    choices = twilio_numbers.available(account.client, area_code)
    if not choices:
        raise ValueError(f"Twilio has no SMS-capable local number in area code {area_code} right now: try a nearby one")
    if not confirm(choices[0], twilio_numbers.monthly_price(account.client)):
        raise ValueError("nothing bought")
    number = twilio_numbers.buy(account.client, choices[0], **our_urls(rt, account))
    try:
        _save_and_point(rt, sub_id, account, number | {"sms_url": "", "status_callback": ""})
    except Exception:
        twilio_numbers.release(account.client, number["sid"])  # never bought and left unassigned
        raise
    return number


def release(rt, sub_id: int) -> str:
    """Take the number from the sub-account and put its webhooks back as they were."""
    account = account_for(rt, sub_id)
    with transaction(rt.sessions) as s:
        sub = subaccounts.active(s, sub_id)
        if sub is None or not sub.phone_number:
            raise ValueError("this sub-account has no number")
        released = sub.phone_number
        if sub.twilio_number_sid:
            twilio_numbers.put_back(account.client, sub.twilio_number_sid, sub.twilio_previous or {})
        sub.phone_number, sub.twilio_number_sid, sub.twilio_previous = None, None, None
        subaccounts.forget_sender_check(sub)
    return released


def _save_and_point(rt, sub_id: int, account: Account, number: dict) -> None:
    previous = {k: number.get(k) for k in twilio_numbers.WEBHOOKS}
    try:
        with transaction(rt.sessions) as s:
            sub = subaccounts.active(s, sub_id)
            if sub is None:
                raise ValueError(f"no sub-account {sub_id}")
            if sub.twilio_number_sid and sub.twilio_number_sid != number["sid"]:
                raise ValueError(f"{sub.name} has {sub.phone_number} already: release it first")
            subaccounts.update_profile(s, sub, phone_number=number["phone_number"])
            if sub.twilio_number_sid != number["sid"]:
                sub.twilio_number_sid, sub.twilio_previous = number["sid"], previous
            s.flush()
            # Twilio last, inside the transaction: if it refuses, nothing is saved either.
            twilio_numbers.point_at(account.client, number["sid"], **our_urls(rt, account))
    except IntegrityError:
        raise ValueError(f"{number['phone_number']} already belongs to another sub-account") from None
    rt.forget_twilio_accounts()


def repoint(rt, account_sid: str) -> tuple[int, list[str]]:
    """After an account's credentials changed (an auth token swapped for an API key, or back),
    point every number Ringback wired for it at the URLs those credentials need. Returns how
    many were updated and what Twilio refused, per number."""
    with rt.sessions() as s:
        subs = s.execute(select(SubAccount.id, SubAccount.phone_number, SubAccount.twilio_number_sid).where(
            SubAccount.twilio_number_sid.is_not(None), SubAccount.removed_at.is_(None))).all()
    done, failed = 0, []
    for sub_id, phone_number, number_sid in subs:
        try:
            account = account_for(rt, sub_id)
            if account.sid != account_sid:
                continue
            twilio_numbers.point_at(account.client, number_sid, **our_urls(rt, account))
            done += 1
        except ValueError as exc:
            failed.append(f"{phone_number}: {exc}")
    return done, failed


SERVICE_SID = re.compile(r"\AMG[0-9a-fA-F]{32}\Z")


def use_messaging_service(rt, sub_id: int, service_sid: str | None) -> None:
    """Send through this Messaging Service (None: through the bare number again). The service
    must hold the sub-account's number: it is the number callers dial and see texts from."""
    if service_sid is not None:
        if not SERVICE_SID.match(service_sid):
            raise ValueError(f"{service_sid!r} is not a Messaging Service SID (MG followed by 32 hex digits)")
        account = account_for(rt, sub_id)
        with rt.sessions() as s:
            sub = subaccounts.active(s, sub_id)
        if sub is None or not sub.phone_number:
            raise ValueError("give the sub-account its number first (--assign), then the Messaging Service that holds it")
        if sub.phone_number not in twilio_numbers.service_numbers(account.client, service_sid):
            raise ValueError(f"the Messaging Service {service_sid} does not hold {sub.phone_number}: add the number to "
                             "its Sender Pool in the Twilio console, then run this again")
    with transaction(rt.sessions) as s:
        sub = subaccounts.active(s, sub_id)
        if sub is None:
            raise ValueError(f"no sub-account {sub_id}")
        sub.messaging_service_sid = service_sid
        subaccounts.forget_sender_check(sub)
    rt.forget_twilio_accounts()


def still_owned(rt, sub_id: int, account: Account | None = None) -> bool:
    """Whether the sub-account's number is still one of its Twilio account's (a number released
    or ported away in Twilio just disappears). ValueError: no account to ask, or no answer."""
    with rt.sessions() as s:
        sub = subaccounts.active(s, sub_id)
    if sub is None or not sub.phone_number:
        return True
    account = account or account_for(rt, sub_id)
    return bool(twilio_numbers.incoming(account.client, sub.phone_number))


@dataclass(frozen=True)
class Registration:
    blocked: bool  # US carriers block the texts (Twilio 30034) until someone acts
    text: str  # what Twilio's records say
    fix: str = ""  # the one thing to do, when blocked

    @property
    def line(self) -> str:
        return f"{self.text}. To fix: {self.fix}" if self.fix else self.text


def a2p_applies(phone_number: str | None) -> bool:
    """A2P 10DLC covers US/Canadian local numbers (+1), not toll-free ones (verified otherwise)."""
    if not phone_number or not phone_number.startswith("+1"):
        return False
    try:
        return phonenumbers.number_type(phonenumbers.parse(phone_number)) != phonenumbers.PhoneNumberType.TOLL_FREE
    except phonenumbers.NumberParseException:
        return False


def registration(rt, sub_id: int, account: Account | None = None) -> Registration | None:
    """A2P 10DLC: the campaign the sub-account's texts go out under, or what carriers will do
    without one; None when it does not apply. ValueError when there is no Twilio account to ask
    (the sandbox) or Twilio cannot be asked."""
    with rt.sessions() as s:
        sub = subaccounts.active(s, sub_id)
    if sub is None or not a2p_applies(sub.phone_number):
        return None
    client = (account or account_for(rt, sub_id)).client
    service = sub.messaging_service_sid or twilio_numbers.service_holding(client, sub.phone_number)
    if service is None:
        return Registration(True, f"{sub.phone_number} is in no Messaging Service of the Twilio account, so in no "
                                  "registered A2P 10DLC campaign: US carriers will block its texts (Twilio 30034)",
                            "register a brand and campaign on a Messaging Service in the Twilio console, add the "
                            f"number to it, then `ringback subaccount number {sub_id} --messaging-service MG...`")
    found = twilio_numbers.campaigns(client, service)
    verified = [c for c in found if (c["status"] or "").upper() == "VERIFIED"]
    through = "" if sub.messaging_service_sid else f" (through Messaging Service {service}, which holds the number)"
    if verified:
        c = verified[0]
        return Registration(False, f"registered A2P campaign {c['campaign_id']} ({c['usecase']}): VERIFIED{through}")
    if found:
        c = found[0]
        return Registration(True, f"A2P campaign {c['campaign_id']} is {c['status']}: until it is VERIFIED carriers "
                                  f"block the texts (Twilio 30034){through}",
                            "wait for the campaign's review, or answer what Twilio asks about it in its console")
    return Registration(True, f"the Messaging Service {service} has no A2P 10DLC campaign: carriers will block its "
                              "texts (Twilio 30034)", "register a campaign on it in the Twilio console")


# ------------------------------------------------------------------ GoHighLevel's own numbers

def ghl_numbers(rt, sub_id: int) -> list[dict]:
    """The location's active numbers that can text (GoHighLevel's phone system), for a location
    sending through its own conversations; ValueError when GoHighLevel will not list them."""
    from connectors.base import CrmError
    from connectors.ghl.oauth import texting_number

    from .crm_session import CrmSession
    crms = CrmSession(rt)
    with rt.sessions() as s:
        sub = subaccounts.active(s, sub_id)
        try:
            crm = crms.port(sub.id, s) if sub is not None and crm_sends_texts(sub.provider) else None
        except CrmError:
            crm = None
    if crm is None:
        raise ValueError("Ringback is not connected to this GoHighLevel location")
    try:
        found = crms.call(crm, lambda c: c.client.request(
            "GET", f"/phone-system/numbers/location/{sub.external_id}"))[0].get("numbers") or []
    except CrmError as exc:
        raise ValueError(f"GoHighLevel would not list the location's numbers ({exc}): the app needs the "
                         "phonenumbers.read scope") from None
    default = texting_number(found)
    return [{"phone_number": n["phoneNumber"], "default": n["phoneNumber"] == default and n.get("isDefaultNumber"),
             "name": n.get("friendlyName")} for n in found if (n.get("capabilities") or {}).get("sms")]


def use_ghl_number(rt, sub_id: int, phone_number: str) -> None:
    """Texts through the location's conversations go out of this number of the location."""
    if phone_number not in {n["phone_number"] for n in ghl_numbers(rt, sub_id)}:
        raise ValueError(f"{phone_number} is not a number of this location that can text")
    try:
        with transaction(rt.sessions) as s:
            subaccounts.update_profile(s, subaccounts.active(s, sub_id), phone_number=phone_number)
    except IntegrityError:
        raise ValueError(f"{phone_number} already belongs to another sub-account") from None
