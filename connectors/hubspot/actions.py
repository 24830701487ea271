"""HubSpot's custom workflow action calls: {"callbackId", "origin": {"portalId", ...},
"object": {"objectId", "objectType"}, "inputFields": {...}} (contracts and PROVIDERS.md),
parsed into plain values or refused with a ValueError naming the field."""
from __future__ import annotations

from dataclasses import dataclass

from marshmallow import INCLUDE, Schema, fields

from ..base import Id, Text, load_object


class _Origin(Schema):
    class Meta:
        unknown = INCLUDE

    portalId = Id(required=True, max_length=20)


class _Object(Schema):
    class Meta:
        unknown = INCLUDE

    objectId = Id(required=True, max_length=30)
    objectType = Text(load_default="", max_length=40)


class _Call(Schema):
    class Meta:
        unknown = INCLUDE

    origin = fields.Nested(_Origin, required=True)
    object = fields.Nested(_Object, required=True)


@dataclass(frozen=True)
class ActionCall:
    portal_id: str
    object_type: str
    object_id: str


def parse_action(body: bytes) -> ActionCall:
    d = load_object(body, _Call())
    return ActionCall(d["origin"]["portalId"], d["object"]["objectType"].upper(), d["object"]["objectId"])
