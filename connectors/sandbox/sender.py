"""A sender that records texts instead of sending them (shown on Ringback's home page and log)."""
from __future__ import annotations

import logging
import uuid

from ..base import SendResult

log = logging.getLogger("ringback.sandbox")


class SandboxSender:
    name = "sandbox"
    label = "the sandbox"
    reports_by_callback = False

    def send(self, *, to, from_, body, status_callback=None, validity_seconds=None) -> SendResult:
        sid = "SB" + uuid.uuid4().hex
        log.warning("sandbox text %s -> %s: %s", from_, to, body)
        return SendResult(sid, "sandboxed")

    def find_sent(self, *, to, from_, body, since):
        # The sandbox keeps its record in Ringback's own messages table, so a text that was
        # "sent" always has its row: there is nothing remote to reconcile with.
        return None
