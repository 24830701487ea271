"""The files an agency or developer uploads to each marketplace, filled in for one deployment.

Templates live in marketplace/manifests/ (Jinja, strict: a missing value is an error). `ringback
manifests --base-url URL` renders them and validates what it wrote: the JSON and XML parse,
every URL is on the deployment's base URL and names a route Ringback serves, the actions and
triggers are Ringback's own, and the Salesforce Outbound Message points at the org's secret URL.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from defusedxml import ElementTree
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from connectors.ghl.oauth import SCOPES as GHL_SCOPES

TEMPLATES = Path(__file__).with_name("manifests")
SF_NS = "{http://soap.sforce.com/2006/04/metadata}"
HUBSPOT_SCOPES = ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write", "crm.objects.deals.read",
                  "crm.objects.deals.write", "crm.schemas.deals.read", "crm.schemas.deals.write", "automation"]
GHL_EVENTS = {"InboundMessage", "OutboundMessage", "AppointmentCreate", "AppointmentUpdate", "INSTALL", "UNINSTALL"}


@dataclass
class Written:
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_URL_SAFE = re.compile(r"\A[A-Za-z0-9._~:/%-]+\Z")


def base_url_problem(base_url: str, *, allow_http: bool = False) -> str | None:
    """Why ``base_url`` cannot go into the manifests (they embed it in JSON and XML), or None."""
    try:
        parsed = urlparse(base_url)
        parsed.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parsed = None
    if (parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query
            or parsed.fragment or parsed.username or parsed.password or not _URL_SAFE.match(base_url)):
        return (f"--base-url is not a plain URL such as https://ringback.example.com (no quotes, spaces, "
                f"query or fragment): {base_url!r}")
    if parsed.scheme != "https" and not allow_http:
        return f"--base-url must be https (the marketplaces refuse plain http): {base_url}"
    return None


def render(base_url: str, out: Path, *, action_secret: str, salesforce_orgs: dict[str, str], routes: set[str],
           contact_email: str = "support@example.com", integration_user: str = "integration@example.com",
           allow_http: bool = False) -> Written:
    """Write the manifests into ``out``; ``salesforce_orgs`` maps an org id to its Outbound Message URL."""
    result = Written()
    base_url = base_url.rstrip("/")
    problem = base_url_problem(base_url, allow_http=allow_http)
    if problem:  # refused before a single file is written
        result.problems.append(problem)
        return result
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False,
                      keep_trailing_newline=True)
    values = {"base_url": base_url, "ghl_action_secret": action_secret, "ghl_scopes": GHL_SCOPES.split(),
              "hubspot_scopes": HUBSPOT_SCOPES, "contact_email": contact_email, "integration_user": integration_user}
    out.mkdir(parents=True, exist_ok=True)
    for name in ("ghl-app.json", "hubspot-app.json"):
        result.files.append(_write(out / name, env.get_template(name).render(**values)))
    orgs = salesforce_orgs or {"": f"{base_url}/webhooks/salesforce/INSTALL-THE-ORG-FIRST"}
    if not salesforce_orgs:
        result.notes.append("no Salesforce org is installed yet: its Outbound Message URL carries a per-org secret, so "
                            "install the org (OAuth), then run `ringback manifests` again for its metadata")
    for org, outbound in sorted(orgs.items()):
        folder = out / (f"salesforce-{org}" if org else "salesforce")
        folder.mkdir(exist_ok=True)
        for path in sorted((TEMPLATES / "salesforce").iterdir()):
            text = env.get_template(f"salesforce/{path.name}").render(**values, salesforce_outbound_url=outbound)
            result.files.append(_write(folder / path.name, text))
    result.problems += validate(out, base_url, routes, placeholder_orgs=not salesforce_orgs)
    return result


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def validate(out: Path, base_url: str, routes: set[str], placeholder_orgs: bool = False) -> list[str]:
    """What is wrong with the manifests in ``out`` (nothing: an empty list)."""
    from integration.actions import ACTIONS, TRIGGERS
    problems = []

    def url_ok(where: str, url: str) -> None:
        if not url.startswith(base_url + "/"):
            problems.append(f"{where}: {url} is not on {base_url}")
            return
        path = urlparse(url).path
        if not any(re.fullmatch(rule, path) for rule in routes):
            problems.append(f"{where}: Ringback serves no {path}")

    for name in ("ghl-app.json", "hubspot-app.json"):
        try:
            json.loads((out / name).read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        return problems
    ghl = json.loads((out / "ghl-app.json").read_text())
    for url in ghl["auth"]["redirectUrls"]:
        url_ok("ghl-app.json redirect", url)
    url_ok("ghl-app.json webhook", ghl["webhook"]["url"])
    unknown = set(ghl["webhook"]["events"]) - GHL_EVENTS
    if unknown:
        problems.append(f"ghl-app.json: Ringback does not handle webhook events {sorted(unknown)}")
    for page in ghl["customPages"]:
        url_ok("ghl-app.json custom page", page["url"])
    for action in ghl["workflowActions"]:
        if action["key"] not in ACTIONS:
            problems.append(f"ghl-app.json: action {action['key']!r} is not Ringback's")
        url_ok(f"ghl-app.json action {action['key']}", action["url"])
        if not action["headers"].get("X-Ringback-Secret"):
            problems.append(f"ghl-app.json: action {action['key']} sends no X-Ringback-Secret")
    for trigger in ghl["workflowTriggers"]:
        if trigger["key"] not in TRIGGERS:
            problems.append(f"ghl-app.json: trigger {trigger['key']!r} is not Ringback's")
        url_ok(f"ghl-app.json trigger {trigger['key']}", trigger["subscriptionUrl"])
    hubspot = json.loads((out / "hubspot-app.json").read_text())
    for url in hubspot["auth"]["redirectUrls"]:
        url_ok("hubspot-app.json redirect", url)
    url_ok("hubspot-app.json webhooks", hubspot["webhooks"]["targetUrl"])
    for card in hubspot["crmCards"]:
        url_ok("hubspot-app.json card", card["fetch"]["targetUrl"])
    for action in hubspot["workflowActions"]:
        url_ok("hubspot-app.json action", action["actionUrl"])
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name.startswith("salesforce")):
        problems += _validate_salesforce(folder, url_ok, placeholder_orgs)
    return problems


def _validate_salesforce(folder: Path, url_ok, placeholder: bool) -> list[str]:
    problems = []
    docs = {}
    for path in sorted(folder.iterdir()):
        try:
            docs[path.name] = ElementTree.fromstring(path.read_bytes())
        except ElementTree.ParseError as exc:
            problems.append(f"{folder.name}/{path.name}: not well-formed XML: {exc}")
    if problems:
        return problems
    app = docs["Ringback.connectedApp-meta.xml"]
    url_ok(f"{folder.name} connected app callback", app.findtext(f"{SF_NS}oauthConfig/{SF_NS}callbackUrl"))
    url_ok(f"{folder.name} Canvas URL", app.findtext(f"{SF_NS}canvasConfig/{SF_NS}canvasUrl"))
    if app.findtext(f"{SF_NS}canvasConfig/{SF_NS}accessMethod") != "SignedRequest":
        problems.append(f"{folder.name}: the Canvas app must use SignedRequest (Ringback checks its signature)")
    message = docs["Task.workflow-meta.xml"].find(f"{SF_NS}outboundMessages")
    endpoint = message.findtext(f"{SF_NS}endpointUrl")
    if not placeholder:
        url_ok(f"{folder.name} Outbound Message", endpoint)
    fields = {f.text for f in message.findall(f"{SF_NS}fields")}
    missing = {"Id", "WhoId", "CallType", "CallDisposition", "CallDurationInSeconds", "TaskSubtype"} - fields
    if missing:
        problems.append(f"{folder.name}: the Outbound Message lacks fields Ringback reads: {sorted(missing)}")
    flow = docs["Ringback_Call_Task.flow-meta.xml"]
    if flow.findtext(f"{SF_NS}start/{SF_NS}object") != "Task":
        problems.append(f"{folder.name}: the Flow must start on Task")
    action = flow.findtext(f"{SF_NS}actionCalls/{SF_NS}actionName")
    if action != f"Task.{message.findtext(f'{SF_NS}fullName')}":
        problems.append(f"{folder.name}: the Flow calls {action}, not the Outbound Message defined")
    return problems
