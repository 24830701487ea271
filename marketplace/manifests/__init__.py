"""The app definitions each marketplace reads, filled in for one deployment.

`ringback manifests --base-url URL --out DIR` writes:

- `hubspot/`: a HubSpot developer project (hsproject.json, src/app/...-hsmeta.json, the card and
  settings page UI extensions), for `hs project upload` (marketplace.manifests.hubspot);
- `salesforce/` (or `salesforce-<org id>/` per installed org, whose Outbound Message URL carries
  that org's secret): an sfdx source project for `sf project deploy start`
  (marketplace.manifests.salesforce);
- `ghl-setup.md`: the values to enter in GoHighLevel's developer UI (marketplace.manifests.ghl).

Nothing is half-written: everything goes into a new folder beside DIR, is checked there, and
only then takes DIR's place. DIR must be empty, absent, or an earlier output of this command.
The checks here are Ringback's own (URLs on the base URL and served by Ringback, scopes equal to
what the install flows ask for, events and actions Ringback handles); the vendors' own tooling
checks the same files in the tests (tests/test_manifests.py).
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from defusedxml import ElementTree

from .. import apps
from . import ghl, hubspot, salesforce

MARKER = ".ringback-manifests"  # says a folder is this command's output, so it may be replaced
SF_NS = "{http://soap.sforce.com/2006/04/metadata}"
PLACEHOLDER_ORG = "INSTALL-THE-ORG-FIRST"


@dataclass
class Written:
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_URL_SAFE = re.compile(r"\A[A-Za-z0-9._~:/%-]+\Z")


def base_url_problem(base_url: str, *, allow_http: bool = False) -> str | None:
    """Why ``base_url`` cannot go into the definitions (they embed it in JSON, XML and JSX), or None."""
    try:
        parsed = urlparse(base_url)
        parsed.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parsed = None
    if (parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query
            or parsed.fragment or parsed.username or parsed.password or not _URL_SAFE.match(base_url)):
        return (f"--base-url is not a plain URL such as https://ringback.example.com (no quotes, spaces, "
                f"query or fragment): {base_url!r}")
    if parsed.path.rstrip("/"):
        return f"--base-url is the site's root, without a path: {base_url}"
    if parsed.scheme != "https" and not allow_http:
        return f"--base-url must be https (the marketplaces refuse plain http): {base_url}"
    return None


def out_problem(out: Path) -> str | None:
    """Why ``out`` cannot be written to, or None."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file, not a folder"
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        return (f"{out} holds other files: give an empty or new folder (Ringback replaces only a folder it wrote "
                "itself)")
    return None


def render(base_url: str, out: Path, *, action_secret: str, salesforce_orgs: dict[str, str], routes: set[str],
           actions: dict[str, str], triggers: dict[str, str], contact_email: str = "support@example.com",
           integration_user: str = "integration@example.com", allow_http: bool = False) -> Written:
    """Write the definitions into ``out``; ``salesforce_orgs`` maps an org id to its Outbound Message URL."""
    result = Written()
    base_url = base_url.rstrip("/")
    problem = base_url_problem(base_url, allow_http=allow_http) or out_problem(out)
    if problem:  # refused before a single file is written
        result.problems.append(problem)
        return result
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        written = {}
        for path, text in hubspot.files(base_url, actions=actions, support_email=contact_email).items():
            written[f"hubspot/{path}"] = text
        orgs = salesforce_orgs or {"": f"{base_url}/webhooks/salesforce/{PLACEHOLDER_ORG}"}
        if not salesforce_orgs:
            result.notes.append("no Salesforce org is installed yet: its Outbound Message URL carries a per-org "
                                "secret, so install the org (OAuth), then run `ringback manifests` again for its "
                                "project")
        for org, outbound in sorted(orgs.items()):
            folder = f"salesforce-{org}" if org else "salesforce"
            for path, text in salesforce.files(base_url, outbound, contact_email=contact_email,
                                               integration_user=integration_user).items():
                written[f"{folder}/{path}"] = text
        written["ghl-setup.md"] = ghl.sheet(base_url, action_secret=action_secret, actions=actions,
                                            triggers=triggers)
        written[MARKER] = f"written by `ringback manifests --base-url {base_url}`\n"
        for path, text in written.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        result.problems += validate(staging, base_url, routes, actions=actions,
                                    placeholder_orgs=not salesforce_orgs)
        if result.problems:
            return result
        # The earlier output is set aside, not deleted, until the new one is in its place.
        old = out.with_name(f".{out.name}-old") if out.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        result.files = [out / path for path in written if path != MARKER]
        return result
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def validate(out: Path, base_url: str, routes: set[str], *, actions: dict[str, str],
             placeholder_orgs: bool = False) -> list[str]:
    """What is wrong with the definitions in ``out`` (nothing: an empty list)."""
    problems = []

    def url_ok(where: str, url: str | None) -> None:
        if not url or not (url == base_url or url.startswith(base_url + "/")):
            problems.append(f"{where}: {url} is not on {base_url}")
            return
        path = urlparse(url).path or "/"
        if path != "/" and not any(re.fullmatch(rule, path) for rule in routes):
            problems.append(f"{where}: Ringback serves no {path}")

    problems += _validate_hubspot(out / "hubspot", url_ok, actions)
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and p.name.startswith("salesforce")):
        problems += _validate_salesforce(folder, url_ok, placeholder_orgs)
    sheet = (out / "ghl-setup.md").read_text()
    for url in re.findall(r"`(https?://[^`]+)`", sheet):
        url_ok("ghl-setup.md", url)
    if " ".join(apps.GHL_SCOPES) not in sheet:
        problems.append("ghl-setup.md: the scopes are not the ones the install asks for")
    return problems


def _load_json(folder: Path, path: str, problems: list[str]):
    try:
        return json.loads((folder / path).read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"{folder.name}/{path}: {exc}")
        return None


def _validate_hubspot(folder: Path, url_ok, actions: dict[str, str]) -> list[str]:
    problems: list[str] = []
    project = _load_json(folder, "hsproject.json", problems)
    app = _load_json(folder, "src/app/app-hsmeta.json", problems)
    hooks = _load_json(folder, "src/app/webhooks/webhooks-hsmeta.json", problems)
    if problems:
        return problems
    if project.get("platformVersion") != hubspot.PLATFORM_VERSION:
        problems.append(f"hubspot/hsproject.json: platformVersion is not {hubspot.PLATFORM_VERSION}")
    auth = app["config"]["auth"]
    for url in auth["redirectUrls"]:
        url_ok("hubspot app redirect", url)
    if auth["requiredScopes"] != apps.HUBSPOT_REQUIRED_SCOPES:
        problems.append("hubspot app: requiredScopes are not the ones the install asks for")
    url_ok("hubspot webhooks", hooks["config"]["settings"]["targetUrl"])
    declared = {(s["objectType"], s["subscriptionType"], s.get("propertyName"))
                for s in hooks["config"]["subscriptions"]["crmObjects"]}
    if declared - set(hubspot.SUBSCRIPTIONS):
        problems.append(f"hubspot webhooks: Ringback does not handle {sorted(map(str, declared - set(hubspot.SUBSCRIPTIONS)))}")
    for path in sorted((folder / "src/app/workflow-actions").glob("*-hsmeta.json")):
        config = json.loads(path.read_text())["config"]
        url_ok(f"hubspot action {path.name}", config["actionUrl"])
        if config["actionUrl"].rsplit("/", 1)[-1] not in actions:
            problems.append(f"hubspot action {path.name}: not one of Ringback's actions")
    for kind, dirname in (("card", "cards"), ("settings", "settings")):
        metas = list((folder / "src/app" / dirname).glob("*-hsmeta.json"))
        if not metas:
            problems.append(f"hubspot: no {kind} extension")
        for meta in metas:
            entry = json.loads(meta.read_text())["config"]["entrypoint"]
            if not (folder / "src" / entry.lstrip("/")).is_file():
                problems.append(f"hubspot {kind}: entrypoint {entry} is missing")
    return problems


def _validate_salesforce(folder: Path, url_ok, placeholder: bool) -> list[str]:
    problems: list[str] = []
    if _load_json(folder, "sfdx-project.json", problems) is None:
        return problems
    docs = {}
    for path in sorted((folder / "force-app").rglob("*-meta.xml")):
        try:
            docs[path.relative_to(folder / "force-app/main/default").as_posix()] = ElementTree.fromstring(
                path.read_bytes())
        except ElementTree.ParseError as exc:
            problems.append(f"{folder.name}/{path.name}: not well-formed XML: {exc}")
    if problems:
        return problems
    app = salesforce.APP
    url_ok(f"{folder.name} OAuth callback",
           docs[f"extlClntAppGlobalOauthSets/{app}.ecaGlblOauth-meta.xml"].findtext(f"{SF_NS}callbackUrl"))
    canvas = docs[f"extlClntAppCanvasSettings/{app}.ecaCanvas-meta.xml"]
    url_ok(f"{folder.name} Canvas URL", canvas.findtext(f"{SF_NS}canvasUrl"))
    if canvas.findtext(f"{SF_NS}accessMethod") not in ("Get", "Post"):
        problems.append(f"{folder.name}: the Canvas accessMethod must be Get or Post")
    for name, (obj, fields) in salesforce.MESSAGES.items():
        flow = docs.get(f"flows/{name}.flow-meta.xml")
        messages = docs.get(f"workflows/{obj}.workflow-meta.xml")
        found = None if messages is None else next(
            (m for m in messages.findall(f"{SF_NS}outboundMessages") if m.findtext(f"{SF_NS}fullName") == name), None)
        if flow is None or found is None:
            problems.append(f"{folder.name}: {name} needs its Flow and its Outbound Message")
            continue
        if not placeholder:
            url_ok(f"{folder.name} Outbound Message {name}", found.findtext(f"{SF_NS}endpointUrl"))
        if flow.findtext(f"{SF_NS}actionCalls/{SF_NS}actionName") != f"{obj}.{name}":
            problems.append(f"{folder.name}: the Flow {name} does not call its Outbound Message")
        if flow.findtext(f"{SF_NS}start/{SF_NS}object") != obj:
            problems.append(f"{folder.name}: the Flow {name} must start on {obj}")
    return problems
