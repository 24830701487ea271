"""Who is looking at a settings page, and what they may see: kept in Flask's signed session.

Nobody logs in to Ringback: the CRM proves who the person is (GoHighLevel's SSO payload, a
Salesforce Canvas signed request, HubSpot's OAuth or a signed HubSpot request), and that proof
becomes a viewer in the session. A location user sees one sub-account; an agency user every
sub-account of that agency; nothing else.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from flask import session

TTL_SECONDS = 12 * 3600
KEY = "viewer"


@dataclass
class Viewer:
    provider: str
    user: str  # who, as the CRM named them (email or user id), for the record
    agency_id: int | None = None  # set: an agency user (sees the agency's sub-accounts)
    sub_ids: list[int] = field(default_factory=list)
    expires: float = 0.0

    def may_see(self, sub) -> bool:
        if sub is None:
            return False
        if sub.id in self.sub_ids:
            return True
        return self.agency_id is not None and sub.agency_id == self.agency_id


def sign_in(viewer: Viewer) -> None:
    viewer.expires = time.time() + TTL_SECONDS
    session.clear()  # a new identity starts a new session (no fixation)
    session[KEY] = asdict(viewer)
    session.permanent = True


def current() -> Viewer | None:
    data = session.get(KEY)
    if not data:
        return None
    viewer = Viewer(**data)
    if viewer.expires < time.time():
        session.pop(KEY, None)
        return None
    return viewer
