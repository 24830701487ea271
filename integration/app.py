"""The Flask app factory."""
from __future__ import annotations

import logging

from flask import Flask
from flask_wtf import CSRFProtect

from . import runtime as runtime_mod
from .config import Config
from .runtime import Runtime

MAX_BODY = 1024 * 1024  # DESIGN: bodies over 1 MiB are refused with 413 before they are read


def create_app(config: Config | None = None, *, rt: Runtime | None = None) -> Flask:
    config = config or Config.from_env()
    rt = rt or Runtime(config)
    runtime_mod.install(rt)
    from . import jobs  # noqa: F401  (registers the tasks on the queue)

    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=MAX_BODY,
                      MAX_FORM_MEMORY_SIZE=MAX_BODY)
    app.extensions["ringback"] = rt
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    # Settings pages open inside the CRMs' iframes (a third-party context): the session
    # cookie must be SameSite=None, which browsers accept only with Secure (https).
    secure = config.public_url.startswith("https://")
    app.config.update(SESSION_COOKIE_SAMESITE="None" if secure else "Lax", SESSION_COOKIE_SECURE=secure,
                      SESSION_COOKIE_HTTPONLY=True, PERMANENT_SESSION_LIFETIME=12 * 3600,
                      WTF_CSRF_TIME_LIMIT=12 * 3600)

    from .routes import actions, booking, ghl, health, hubspot, oauth, pages, salesforce, settings, twilio
    csrf = CSRFProtect(app)
    # Vendors' requests carry their own proof (signatures, signed requests, encrypted SSO).
    for bp in (twilio.bp, ghl.bp, hubspot.bp, salesforce.bp, actions.bp, booking.bp):
        csrf.exempt(bp)
    csrf.exempt(settings.sso_ghl)
    csrf.exempt(settings.sso_salesforce)
    app.register_blueprint(twilio.bp)
    app.register_blueprint(ghl.bp)
    app.register_blueprint(hubspot.bp)
    app.register_blueprint(salesforce.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(booking.bp)
    return app
