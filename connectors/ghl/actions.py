"""GoHighLevel's calls into Ringback from its workflows: custom actions and trigger subscriptions.

Shapes from contracts/ghl/docs/marketplace-modules (custom workflow actions and triggers): an
action call is {"data": {...}, "extras": {"locationId", "contactId", "workflowId"}, "meta": {...}};
a trigger subscription is {"triggerData": {"id", "key", "eventType", "targetUrl", "filters"},
"extras": {...}, "meta": {...}}. Both are parsed here into plain values, or refused with a
ValueError naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass

from marshmallow import INCLUDE, Schema, fields, validate

from ..base import Id, Text, load_object


class _Extras(Schema):
    class Meta:
        unknown = INCLUDE

    locationId = Id(required=True)
    contactId = Id(load_default=None)
    workflowId = Id(load_default=None)


class _Data(Schema):
    class Meta:
        unknown = INCLUDE

    contactId = Id(load_default=None)


class _ActionBody(Schema):
    class Meta:
        unknown = INCLUDE

    extras = fields.Nested(_Extras, required=True)
    data = fields.Nested(_Data, load_default=dict)


class _TriggerData(Schema):
    class Meta:
        unknown = INCLUDE

    id = Id(load_default=None)
    key = Text(load_default=None, max_length=100)
    eventType = fields.String(load_default=None, validate=validate.OneOf(["CREATED", "UPDATED", "DELETED"]))
    targetUrl = Text(load_default=None, max_length=2000)
    filters = fields.List(fields.Raw(), load_default=list)


class _TriggerBody(Schema):
    class Meta:
        unknown = INCLUDE

    extras = fields.Nested(_Extras, required=True)
    triggerData = fields.Nested(_TriggerData, required=True)


@dataclass(frozen=True)
class ActionCall:
    location_id: str
    contact_id: str | None
    workflow_id: str | None
    trigger: dict | None  # a trigger subscription's triggerData, parsed


def parse_action(body: bytes) -> ActionCall:
    """An action call's location and contact, or ValueError saying what is wrong."""
    d = load_object(body, _ActionBody())
    return ActionCall(d["extras"]["locationId"], d["extras"]["contactId"] or d["data"]["contactId"],
                      d["extras"]["workflowId"], None)


def parse_trigger(body: bytes) -> ActionCall:
    """A trigger subscription, or ValueError saying what is wrong."""
    d = load_object(body, _TriggerBody())
    return ActionCall(d["extras"]["locationId"], d["extras"]["contactId"], d["extras"]["workflowId"], d["triggerData"])
