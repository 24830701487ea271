"""Carrier keywords. Twilio acts only on single-word messages, and so does Ringback.

https://help.twilio.com/articles/223134027-Twilio-support-for-opt-out-keywords-SMS-STOP-filtering-
"""
from __future__ import annotations

OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN = {"START", "YES", "UNSTOP"}
HELP = {"HELP", "INFO"}


def keyword(body: str) -> str | None:
    """'opt_out', 'opt_in', 'help' or None for a message that is not a lone keyword."""
    word = (body or "").strip().strip(".!").upper()
    if not word or len(word.split()) != 1:
        return None
    if word in OPT_OUT:
        return "opt_out"
    if word in OPT_IN:
        return "opt_in"
    if word in HELP:
        return "help"
    return None
