"""hubspot-api-client, made the one way Ringback uses it: pointed at ``api_url`` and timed out."""
from __future__ import annotations

from hubspot import Client
from hubspot.discovery.discovery_base import DiscoveryBase

from .. import base

HUBSPOT_API = "https://api.hubapi.com"


def client(token: str | None = None, api_url: str = HUBSPOT_API) -> Client:
    # host= points the SDK at a loopback fake in tests (it uses urllib3, not requests).
    return Client.create(access_token=token, host=api_url.rstrip("/"), api_factory=_api_with_timeout)


def _api_with_timeout(api_client_package, api_name, config):
    """The SDK's own API factory, with a timeout on every request: its REST client hands urllib3
    no timeout unless each call names one (``_request_timeout``), and urllib3 then waits forever
    (base.API_TIMEOUT says why that matters)."""
    api = DiscoveryBase._default_api_factory(api_client_package, api_name, config)
    rest = api.api_client.rest_client
    request = rest.request

    def timed(*args, _request_timeout=None, **kwargs):
        return request(*args, _request_timeout=_request_timeout or base.API_TIMEOUT, **kwargs)

    rest.request = timed
    return api
