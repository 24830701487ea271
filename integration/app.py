"""The Flask app factory."""
from __future__ import annotations

import logging
import secrets

from flask import Flask, g, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf import CSRFProtect
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from connectors import registry

from . import logs
from . import runtime as runtime_mod
from .config import Config
from .runtime import Runtime

MAX_BODY = 1024 * 1024  # DESIGN: bodies over 1 MiB are refused with 413 before they are read
log = logging.getLogger("ringback.app")
RETRY_AFTER_SECONDS = 10  # the database is away: vendors are asked to send again after this


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, not opened for vendors' webhooks: they carry no cookie and
    never sign anyone in, and unsigning an absent cookie still costs a serializer per request."""

    def open_session(self, app, request):
        if request.path.startswith("/webhooks/"):
            return self.session_class()
        return super().open_session(app, request)


class RowId(IntegerConverter):
    """<int:...> in a URL: a row id, so 1 to 2**31 - 1 (PostgreSQL's integer); beyond is a 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: Config | None = None, *, rt: Runtime | None = None) -> Flask:
    config = config or Config.from_env()
    rt = rt or Runtime(config)
    runtime_mod.install(rt)
    from .worker import tasks  # noqa: F401  (registers the tasks on the queue)

    app = Flask(__name__)
    app.session_interface = CookieSessions()
    app.url_map.converters["int"] = RowId
    from connectors.twilio.errors import plain as twilio_error
    app.jinja_env.filters["twilio_error"] = twilio_error
    app.config.update(SECRET_KEY=config.secret_key, MAX_CONTENT_LENGTH=MAX_BODY,
                      MAX_FORM_MEMORY_SIZE=MAX_BODY)
    app.extensions["ringback"] = rt
    logs.configure(config.log_format)  # request ids, callers' numbers cut to their last four digits

    @app.before_request
    def _request_id():
        g.request_id = logs.new_request_id(request.headers.get("X-Request-Id"))
        g.request_id_token = logs.REQUEST_ID.set(g.request_id)

    @app.after_request
    def _echo_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _forget_request_id(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            logs.REQUEST_ID.reset(token)

    # Settings pages open inside the CRMs' iframes (a third-party context): the session
    # cookie must be SameSite=None, which browsers accept only with Secure (https).
    secure = config.public_url.startswith("https://")
    app.config.update(SESSION_COOKIE_SAMESITE="None" if secure else "Lax", SESSION_COOKIE_SECURE=secure,
                      SESSION_COOKIE_HTTPONLY=True, PERMANENT_SESSION_LIFETIME=12 * 3600,
                      WTF_CSRF_TIME_LIMIT=12 * 3600)

    from .routes import (actions, agency, booking, doors, ghl, health, hubspot, hubspot_extensions, number_page, oauth,
                         pages, salesforce, settings, twilio)
    csrf = CSRFProtect(app)
    # Vendors' requests carry their own proof (signatures, signed requests, encrypted SSO).
    for bp in (twilio.bp, ghl.bp, hubspot.bp, hubspot_extensions.bp, salesforce.bp, actions.bp, booking.bp):
        csrf.exempt(bp)
    csrf.exempt(doors.sso_ghl)
    csrf.exempt(doors.sso_salesforce)
    app.register_blueprint(twilio.bp)
    app.register_blueprint(ghl.bp)
    app.register_blueprint(hubspot.bp)
    app.register_blueprint(hubspot_extensions.bp)
    app.register_blueprint(salesforce.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(doors.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(number_page.bp)
    app.register_blueprint(agency.bp)
    app.register_blueprint(actions.bp)
    app.register_blueprint(booking.bp)
    from . import api
    api.init_app(app, csrf)
    _error_pages(app)
    for warning in config.warnings():
        log.warning("%s", warning)
    return app


def _error_pages(app: Flask) -> None:
    """Errors answer in the caller's language (JSON for APIs and vendors, a page for people)
    and never show an exception, a host or a port: an unexpected one is logged with a
    reference the person can quote."""
    def wants_json() -> bool:
        return not request.accept_mimetypes.accept_html or request.path.startswith(("/webhooks/", "/ghl/", "/hubspot/"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        if wants_json():
            return jsonify(error=exc.description), exc.code
        return render_template("message.html", status=exc.code, title=exc.name, message=exc.description,
                               hint=None, link=None), exc.code

    @app.errorhandler(OperationalError)
    def database_away(exc: OperationalError):
        """The database is unreachable (restarting, failing over): nothing was stored, so a vendor
        must send the event again. Each is told in the answer it retries on (GoHighLevel only
        retries a 429), with Retry-After; a person sees a page saying to try again."""
        vendor = registry.PROVIDERS.get(request.blueprint or "")
        status = vendor.retry_status if vendor is not None else 503
        log.error("database unavailable key=app.database_unavailable status=%s %s %s: %s", status, request.method,
                  request.path, str(exc.orig or exc).splitlines()[0][:200])
        message = "Ringback's database is unavailable for a moment: nothing was stored; send it again."
        if wants_json():
            answer = jsonify(error=message)
        else:
            answer = render_template("message.html", status=status, title="Try again in a moment", message=message,
                                     hint=None, link=None)
        return answer, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        reference = secrets.token_hex(6)
        log.exception("unexpected error key=app.unexpected reference=%s %s %s", reference, request.method, request.path)
        message = f"Something went wrong on Ringback's side (reference {reference})."
        if wants_json():
            return jsonify(error=message, reference=reference), 500
        return render_template("message.html", status=500, title="Something went wrong", message=message,
                               hint="Try again in a minute.", link=None), 500
