"""The CRM port for Salesforce, through simple-salesforce (reads for now: the caller behind a Task)."""
from __future__ import annotations

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (SalesforceError, SalesforceExpiredSession, SalesforceMalformedRequest,
                                          SalesforceResourceNotFound)

from ..base import CrmError

API_VERSION = "59.0"


def make_client(instance_url: str, token: str, session: requests.Session | None = None) -> Salesforce:
    return Salesforce(instance_url=instance_url, session_id=token, version=API_VERSION,
                      session=session or requests.Session())


class SalesforceCrm:
    provider = "salesforce"

    def __init__(self, sf: Salesforce):
        self.sf = sf

    def contact_phone(self, who_id: str) -> str | None:
        """The number of the Lead (00Q...) or Contact (003...) a call Task is about."""
        sobject = {"00Q": self.sf.Lead, "003": self.sf.Contact}.get(who_id[:3])
        if sobject is None:
            return None
        try:
            record = sobject.get(who_id)
        except SalesforceResourceNotFound:
            return None
        except SalesforceExpiredSession as exc:
            raise CrmError(f"Salesforce session expired: {exc}", status=401, token_expired=True) from None
        except SalesforceMalformedRequest as exc:
            raise CrmError(f"Salesforce refused GET {who_id}: {exc}", status=400) from None
        except SalesforceError as exc:
            status = getattr(exc, "status", 0) or 0
            raise CrmError(f"Salesforce GET {who_id}: {exc}", status=status, retryable=status >= 500) from None
        except requests.RequestException as exc:
            raise CrmError(f"Salesforce unreachable: {exc}", retryable=True) from None
        return record.get("MobilePhone") or record.get("Phone")
