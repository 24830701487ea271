"""Text templates: merge fields, opt-out wording, segment counts."""
from __future__ import annotations

import functools
import math
import string
from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

MERGE_FIELDS = {"business_name", "first_name", "booking_link"}
FIRST_NAME_FALLBACK = "there"
OPT_OUT_WORDING = "Reply STOP to opt out."
_OPT_OUT_MARKERS = ("stop", "opt out", "opt-out", "unsubscribe")


class BadTemplate(ValueError):
    """A template that cannot be rendered; the message names the problem."""


MAX_TEMPLATE = 1000  # characters; Twilio refuses a text over 1,600 (error 21617) and bills each segment
LONG_SEGMENTS = 3  # a text of this many segments or more is worth a warning: each is billed as a text


def fields_in(template: str) -> set[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BadTemplate(f"template has a stray brace: {exc}") from None
    for _, name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            raise BadTemplate(f"{{{name}}} takes no format (write it as {{{name}}} alone)")
    return {name for _, name, _, _ in parsed if name is not None}


def length_warning(body: str) -> str | None:
    """A sentence for a text long enough to cost several segments, else None."""
    seg = segments(body)
    if seg.count < LONG_SEGMENTS:
        return None
    per = 160 if seg.encoding == "GSM-7" else 70
    return (f"this text is {len(body)} characters, {seg.count} segments in {seg.encoding}: each segment is billed as "
            f"a text, and a single-segment text holds {per} characters")


def check(template: str) -> None:
    """Raise BadTemplate naming any merge field Ringback does not know."""
    if not template or not template.strip():
        raise BadTemplate("template is empty")
    if len(template) > MAX_TEMPLATE:
        raise BadTemplate(f"template is {len(template)} characters: at most {MAX_TEMPLATE} (a text is billed per "
                          "segment of 153 to 160 characters)")
    unknown = sorted(f for f in fields_in(template) if f not in MERGE_FIELDS)
    if unknown:
        raise BadTemplate(
            f"unknown merge field {{{unknown[0]}}}: use {', '.join('{' + f + '}' for f in sorted(MERGE_FIELDS))}"
        )


def render(template: str, *, business_name: str, first_name: str | None, booking_link: str | None,
           first_in_conversation: bool) -> str:
    """Fill the merge fields; the first text in a conversation always says how to opt out."""
    check(template)
    body = template.format(
        business_name=business_name,
        first_name=(first_name or "").strip() or FIRST_NAME_FALLBACK,
        booking_link=booking_link or "",
    )
    body = " ".join(body.split())  # an empty {booking_link} must not leave double spaces
    if first_in_conversation and not has_opt_out(body):
        body = f"{body} {OPT_OUT_WORDING}"
    return body


def has_opt_out(body: str) -> bool:
    low = body.lower()
    return any(m in low for m in _OPT_OUT_MARKERS)


@dataclass(frozen=True)
class Segments:
    encoding: str  # GSM-7 | UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def segments(body: str) -> Segments:
    """How many SMS segments ``body`` costs: 160/153 septets in GSM-7, 70/67 units in UCS-2."""
    widths = {ch: _septets(ch) for ch in set(body)}
    if None in widths.values():
        units = len(body.encode("utf-16-le")) // 2
        return Segments("UCS-2", units, 1 if units <= 70 else math.ceil(units / 67))
    # Extension characters (€, [, ...) take two septets.
    septets = len(body) + sum(body.count(ch) for ch, width in widths.items() if width == 2)
    return Segments("GSM-7", septets, 1 if septets <= 160 else math.ceil(septets / 153))


@functools.lru_cache(maxsize=2048)
def _septets(ch: str) -> int | None:
    """A character's GSM-7 width (1, or 2 for the extension table), None outside GSM-7. The codec
    encodes one character at a time in Python; asking it once per distinct character is exact
    and costs a tenth of encoding every text."""
    try:
        return len(ch.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None
