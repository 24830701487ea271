"""A Twilio account's phone numbers through the official SDK: list, buy, point at Ringback,
put back, release. Twilio's refusals become ValueError with Twilio's own words.
https://www.twilio.com/docs/phone-numbers/api/incomingphonenumber-resource
https://www.twilio.com/docs/phone-numbers/api/availablephonenumberlocal-resource
"""
from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

WEBHOOKS = ("sms_url", "sms_method", "status_callback", "status_callback_method")


def _twilio(call):
    try:
        return call()
    except TwilioRestException as exc:
        raise ValueError(f"Twilio refused: {exc.status} {exc.code}: {exc.msg}") from None
    except requests.RequestException:
        raise ValueError("Twilio could not be reached: try again in a minute") from None


def _plain(n) -> dict:
    return {"sid": n.sid, "phone_number": n.phone_number, "friendly_name": n.friendly_name,
            "sms_url": n.sms_url or "", "sms_method": n.sms_method or "POST",
            "status_callback": n.status_callback or "", "status_callback_method": n.status_callback_method or "POST",
            "voice_url": n.voice_url or ""}


def incoming(client: Client, phone_number: str | None = None) -> list[dict]:
    """The account's numbers (or the one with ``phone_number``)."""
    kwargs = {"phone_number": phone_number} if phone_number else {}
    return [_plain(n) for n in _twilio(lambda: client.incoming_phone_numbers.list(limit=1000, **kwargs))]


def point_at(client: Client, sid: str, *, sms_url: str, status_callback: str) -> None:
    """Texts to the number and its calls' status changes go to Ringback; its voice URL (the
    business's own call routing) is left as it is."""
    _twilio(lambda: client.incoming_phone_numbers(sid).update(sms_url=sms_url, sms_method="POST",
                                                              status_callback=status_callback,
                                                              status_callback_method="POST"))


def put_back(client: Client, sid: str, previous: dict) -> None:
    _twilio(lambda: client.incoming_phone_numbers(sid).update(**{k: previous.get(k) or "" for k in WEBHOOKS}))


def available(client: Client, area_code: str, country: str = "US") -> list[str]:
    found = _twilio(lambda: client.available_phone_numbers(country).local.list(area_code=area_code, sms_enabled=True,
                                                                                  limit=5))
    return [n.phone_number for n in found]


def monthly_price(client: Client, country: str = "US", number_type: str = "local") -> str | None:
    """What Twilio's Pricing API says a number of this type costs a month ("1.15 USD"), or None
    when it says nothing or cannot be asked (the confirmation then names no figure).
    https://www.twilio.com/docs/phone-numbers/pricing"""
    try:
        found = client.pricing.v1.phone_numbers.countries(country).fetch()
    except (TwilioRestException, requests.RequestException):
        return None
    for price in found.phone_number_prices or []:
        if isinstance(price, dict) and price.get("number_type") == number_type and price.get("current_price"):
            return f"{price['current_price']} {(found.price_unit or 'USD').upper()}"
    return None


def buy(client: Client, phone_number: str, *, sms_url: str, status_callback: str) -> dict:
    return _plain(_twilio(lambda: client.incoming_phone_numbers.create(
        phone_number=phone_number, sms_url=sms_url, sms_method="POST", status_callback=status_callback,
        status_callback_method="POST")))


def release(client: Client, sid: str) -> None:
    _twilio(lambda: client.incoming_phone_numbers(sid).delete())


def service_numbers(client: Client, service_sid: str) -> list[str]:
    """The numbers in a Messaging Service's sender pool.
    https://www.twilio.com/docs/messaging/api/phonenumber-resource"""
    return [n.phone_number for n in _twilio(lambda: client.messaging.v1.services(service_sid).phone_numbers.list(
        limit=1000))]


def service_holding(client: Client, phone_number: str) -> str | None:
    """The account's Messaging Service whose sender pool holds ``phone_number``, if any: an A2P
    campaign covers a number through the service it is in, whichever way a text names the sender.
    https://www.twilio.com/docs/messaging/api/service-resource#read-multiple-service-resources"""
    for service in _twilio(lambda: client.messaging.v1.services.list(limit=100)):
        if phone_number in service_numbers(client, service.sid):
            return service.sid
    return None


def campaigns(client: Client, service_sid: str) -> list[dict]:
    """The service's US A2P 10DLC campaigns and their status (IN_PROGRESS, VERIFIED, FAILED...).
    https://www.twilio.com/docs/messaging/api/usapptoperson-resource"""
    return [{"campaign_id": c.campaign_id, "status": c.campaign_status, "usecase": c.us_app_to_person_usecase}
            for c in _twilio(lambda: client.messaging.v1.services(service_sid).us_app_to_person.list(limit=20))]
