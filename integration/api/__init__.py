"""The admin JSON API (/api/v1/) for agencies that automate: their sub-accounts, each one's state
and numbers, and the report, with the same implementations as the agency page and `ringback
report`. Described by an OpenAPI document that flask-smorest generates from the marshmallow
schemas (api/schemas.py), served at GET /api/v1/openapi.json. Every other route needs an agency's
API token (``Authorization: Bearer rb_...``: `ringback agency token create`), and answers only
for that agency's sub-accounts.
"""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

OPENAPI_PATH = "/api/v1/openapi.json"


class AdminApi(Api):
    """flask-smorest's Api, its JSON error answers kept to its own blueprint (routes.api_error): by
    default it takes over every HTTP error of the app, and the rest of Ringback answers people
    with pages and vendors in their own shapes (app._error_pages)."""

    def _register_error_handlers(self):
        pass


def init_app(app: Flask, csrf) -> Api:
    from . import routes

    app.config.update(API_TITLE="Ringback admin API", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
                      OPENAPI_URL_PREFIX="/api/v1", OPENAPI_JSON_PATH="openapi.json")
    api = AdminApi(app, spec_kwargs={
        "info": {"description": "Agencies' sub-accounts, their state and the money recovered. Authenticate with "
                                "an agency API token: `Authorization: Bearer rb_...` (`ringback agency token "
                                "create`)."},
        "servers": [{"url": app.config.get("API_SERVER_URL", "/")}],
    })
    api.spec.components.security_scheme("agencyToken", {"type": "http", "scheme": "bearer",
                                                       "description": "An agency API token (rb_...)"})
    csrf.exempt(routes.blp)  # no cookie signs anyone in here: a bearer token in a header cannot be forged cross-site
    api.register_blueprint(routes.blp)
    return api
