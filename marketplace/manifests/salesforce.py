"""Ringback for a Salesforce org as a deployable sfdx source project.

`sf project deploy start` (or a 2GP package built from it) puts into the org everything Ringback
relies on, in source format under force-app/main/default:

- an External Client App (Salesforce restricted new connected apps in Spring '26): its header,
  the OAuth plugin (callback URL, scopes), its policies, and its Canvas plugin, which opens
  Ringback's settings page inside Salesforce with a signed request POSTed to /sso/salesforce
  (accessMethod Post; the old connected app's "SignedRequest" was never a valid value);
- Outbound Messages and the record-triggered Flows that send them: call Tasks (the missed
  calls), Events with a Lead/Contact (bookings), Opportunities whose stage changed (booked or
  lost by a person); each to the org's own secret URL;
- the custom field the code writes (Ringback_Text_Status__c on Lead and Opportunity, see
  connectors.salesforce.crm.TEXT_STATUS_FIELD) and a permission set for it.

https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_externalclientapplication.htm
"""
from __future__ import annotations

import json
from xml.sax.saxutils import escape

from connectors.salesforce.crm import TEXT_STATUS_FIELD

from .. import apps

API_VERSION = "66.0"  # ExtlClntAppCanvasSettings exists from 66.0
APP = "Ringback"
NS = "http://soap.sforce.com/2006/04/metadata"
# Outbound Message name -> (object, fields it sends): each read by connectors.salesforce.webhook.
MESSAGES = {
    "Ringback_Call_Task": ("Task", ["Id", "CallDisposition", "CallDurationInSeconds", "CallObject", "CallType",
                                    "Status", "Subject", "TaskSubtype", "WhatId", "WhoId"]),
    "Ringback_Booking_Event": ("Event", ["Id", "StartDateTime", "Subject", "WhatId", "WhoId"]),
    "Ringback_Opportunity_Stage": ("Opportunity", ["Id", "Amount", "ContactId", "IsClosed", "IsWon", "StageName"]),
}
TEXT_STATUS_OBJECTS = ("Lead", "Opportunity")
PERMISSION_SET = "Ringback_Integration"


def _doc(root: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">\n{body}</{root}>\n'


def _el(name: str, value) -> str:
    return f"    <{name}>{escape(str(value))}</{name}>\n"


def files(base_url: str, outbound_url: str, *, contact_email: str, integration_user: str) -> dict[str, str]:
    """{path inside the project folder: text}."""
    d = "force-app/main/default"
    scopes = ", ".join(apps.SALESFORCE_ECA_SCOPES[s] for s in apps.SALESFORCE_SCOPES)
    out = {
        "sfdx-project.json": json.dumps({"packageDirectories": [{"path": "force-app", "default": True}],
                                         "name": "ringback", "namespace": "", "sourceApiVersion": API_VERSION},
                                        indent=2) + "\n",
        f"{d}/externalClientApps/{APP}.eca-meta.xml": _doc("ExternalClientApplication", "".join([
            _el("contactEmail", contact_email),
            _el("description", "Texts back missed callers logged as call Tasks and writes each step into Leads, "
                               "Opportunities and Tasks."),
            _el("distributionState", "Local"), _el("isProtected", "false"), _el("label", APP)])),
        f"{d}/extlClntAppGlobalOauthSets/{APP}.ecaGlblOauth-meta.xml": _doc("ExtlClntAppGlobalOauthSettings", "".join([
            _el("callbackUrl", apps.redirect_url(base_url, "salesforce")), _el("externalClientApplication", APP),
            _el("isConsumerSecretOptional", "false"), _el("isPkceRequired", "false"),
            _el("isSecretRequiredForRefreshToken", "true"), _el("label", f"{APP} global OAuth settings"),
            _el("shouldRotateConsumerKey", "false"), _el("shouldRotateConsumerSecret", "false")])),
        f"{d}/extlClntAppOauthSettings/{APP}.ecaOauth-meta.xml": _doc("ExtlClntAppOauthSettings", "".join([
            _el("commaSeparatedOauthScopes", scopes), _el("externalClientApplication", APP),
            _el("label", f"{APP} OAuth settings")])),
        f"{d}/extlClntAppOauthPolicies/{APP}.ecaOauthPlcy-meta.xml": _doc(
            "ExtlClntAppOauthConfigurablePolicies", "".join([
                _el("externalClientApplication", APP), _el("label", f"{APP} OAuth policies"),
                # Each admin who installs Ringback authorizes it for the org (the OAuth install flow).
                _el("permittedUsersPolicyType", "AllSelfAuthorized")])),
        f"{d}/extlClntAppCanvasSettings/{APP}.ecaCanvas-meta.xml": _doc("ExtlClntAppCanvasSettings", "".join([
            _el("accessMethod", "Post"), _el("canvasLocationOptions", "Aura"),
            _el("canvasLocationOptions", "Visualforce"), _el("canvasOptions", "HideHeader"),
            _el("canvasUrl", f"{base_url}/sso/salesforce"), _el("externalClientApplication", APP),
            _el("label", f"{APP} settings page"), _el("samlInitiationMethod", "None")])),
    }
    by_object: dict[str, list[str]] = {}
    for name, (obj, fields) in MESSAGES.items():
        by_object.setdefault(obj, []).append("    <outboundMessages>\n" + "".join(
            "    " + _el(k, v) for k, v in [("fullName", name), ("apiVersion", API_VERSION),
                                             ("description", f"Sends {obj} records to Ringback."),
                                             ("endpointUrl", outbound_url)])
            + "".join("    " + _el("fields", f) for f in fields)
            + "".join("    " + _el(k, v) for k, v in [("includeSessionId", "false"),
                                                     ("integrationUser", integration_user),
                                                     ("name", name.replace("_", " ")), ("protected", "false"),
                                                     ("useDeadLetterQueue", "false")])
            + "    </outboundMessages>\n")
        out[f"{d}/flows/{name}.flow-meta.xml"] = _flow(name, obj)
    for obj, messages in by_object.items():
        out[f"{d}/workflows/{obj}.workflow-meta.xml"] = _doc("Workflow", "".join(messages))
    for obj in TEXT_STATUS_OBJECTS:
        out[f"{d}/objects/{obj}/fields/{TEXT_STATUS_FIELD}.field-meta.xml"] = _doc("CustomField", "".join([
            _el("fullName", TEXT_STATUS_FIELD),
            _el("description", "The delivery status of Ringback's last text to this caller (sent, delivered, "
                               "undelivered, failed)."),
            _el("externalId", "false"), _el("label", "Ringback text status"), _el("length", "40"),
            _el("required", "false"), _el("type", "Text"), _el("unique", "false")]))
    out[f"{d}/permissionsets/{PERMISSION_SET}.permissionset-meta.xml"] = _doc("PermissionSet", "".join(
        [_el("description", "What the user Ringback is installed as needs: its text-status field on Leads and "
                            "Opportunities."),
         _el("hasActivationRequired", "false"), _el("label", "Ringback integration")]
        + ["    <fieldPermissions>\n" + "    " + _el("editable", "true") + "    " + _el("field", f"{obj}.{TEXT_STATUS_FIELD}")
           + "    " + _el("readable", "true") + "    </fieldPermissions>\n" for obj in TEXT_STATUS_OBJECTS]))
    return out


_TRIGGERS = {
    # Task: inbound call Tasks, when logged and when their disposition changes.
    "Task": ("CreateAndUpdate", "and", [("TaskSubtype", "EqualTo", "<stringValue>Call</stringValue>"),
                                        ("CallType", "EqualTo", "<stringValue>Inbound</stringValue>")]),
    # Event: a meeting with a Lead or Contact, when it is created.
    "Event": ("Create", "and", [("WhoId", "IsNull", "<booleanValue>false</booleanValue>")]),
    # Opportunity: when a person moves it to another stage.
    "Opportunity": ("Update", "and", [("StageName", "IsChanged", "<booleanValue>true</booleanValue>")]),
}


def _flow(name: str, obj: str) -> str:
    trigger, logic, filters = _TRIGGERS[obj]
    shown = "".join(f"        <filters>\n            <field>{field}</field>\n            <operator>{op}</operator>\n"
                    f"            <value>{value}</value>\n        </filters>\n" for field, op, value in filters)
    return _doc("Flow", f"""    <actionCalls>
        <name>Send_to_Ringback</name>
        <label>Send to Ringback</label>
        <locationX>176</locationX>
        <locationY>323</locationY>
        <actionName>{obj}.{name}</actionName>
        <actionType>outboundMessage</actionType>
        <flowTransactionModel>CurrentTransaction</flowTransactionModel>
        <inputParameters>
            <name>ContextRecordId</name>
            <value><elementReference>$Record.Id</elementReference></value>
        </inputParameters>
    </actionCalls>
    <apiVersion>{API_VERSION}</apiVersion>
    <description>Sends each matching {obj} to Ringback (Outbound Message {name}).</description>
    <label>{name.replace("_", " ")}</label>
    <processType>AutoLaunchedFlow</processType>
    <start>
        <locationX>50</locationX>
        <locationY>0</locationY>
        <connector><targetReference>Send_to_Ringback</targetReference></connector>
        <filterLogic>{logic}</filterLogic>
{shown}        <object>{obj}</object>
        <recordTriggerType>{trigger}</recordTriggerType>
        <triggerType>RecordAfterSave</triggerType>
    </start>
    <status>Active</status>
""")
