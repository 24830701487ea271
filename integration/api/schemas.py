"""What the admin API reads and answers, as marshmallow schemas (the OpenAPI document is made
from these)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from connectors import registry
from workflows.config import PACKS

ROW_ID = validate.Range(min=1, max=2**31 - 1)


class ProblemSchema(Schema):
    short = fields.String(required=True, metadata={"description": "A few words, e.g. 'no number'"})
    why = fields.String(required=True)
    fix = fields.String(required=True, metadata={"description": "The one thing to do"})


class SubAccountSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    crm = fields.String(required=True, metadata={"description": "ghl, hubspot, salesforce, or twilio (a number alone)"})
    crm_account_id = fields.String(required=True,
                                   metadata={"description": "The CRM's own id: location id, portal id, org id"})
    phone_number = fields.String(allow_none=True, required=True)
    text_back_enabled = fields.Boolean(required=True)
    can_text = fields.Boolean(required=True)
    problem = fields.Nested(ProblemSchema, allow_none=True, required=True,
                            metadata={"description": "Why it cannot text its missed callers now"})
    not_texted = fields.Integer(required=True, metadata={"description": "Missed callers not texted for want of a "
                                                                        "way to text, last 30 days"})
    caught_up = fields.String(required=True, metadata={"description": "When lost webhooks' calls were last looked "
                                                                      "for: '3 min ago', 'never', 'failing: ...'"})
    last_30_days = fields.Nested(lambda: RecentSchema(), required=True)


class RecentSchema(Schema):
    missed_calls = fields.Integer(required=True)
    texted = fields.Integer(required=True)
    replied = fields.Integer(required=True)
    booked = fields.Integer(required=True)
    revenue = fields.Float(required=True)


class SubAccountListSchema(Schema):
    sub_accounts = fields.List(fields.Nested(SubAccountSchema), required=True)


class ReportRowSchema(Schema):
    day = fields.String(required=True, metadata={"description": "YYYY-MM-DD, or 'total'"})
    missed_calls = fields.Integer(required=True)
    texted = fields.Integer(required=True)
    delivered = fields.Integer(required=True)
    replied = fields.Integer(required=True)
    booked = fields.Integer(required=True)
    lost = fields.Integer(required=True)
    opted_out = fields.Integer(required=True)
    revenue = fields.Float(required=True)
    reply_rate = fields.Float(allow_none=True, required=True)
    booking_rate = fields.Float(allow_none=True, required=True)
    median_seconds_to_text = fields.Float(allow_none=True, required=True)
    p95_seconds_to_text = fields.Float(allow_none=True, required=True)


class ReportSchema(Schema):
    days = fields.List(fields.Nested(ReportRowSchema), required=True)
    total = fields.Nested(ReportRowSchema, required=True)
    time_zone = fields.String(required=True, metadata={"description": "The zone the days are dates in: the "
                                                                      "sub-account's own, or UTC across several"})


class ReportQuerySchema(Schema):
    since = fields.Date(load_default=None, metadata={"description": "From this day (YYYY-MM-DD)"})
    until = fields.Date(load_default=None, metadata={"description": "To this day, included (YYYY-MM-DD)"})
    sub_account = fields.Integer(load_default=None, validate=ROW_ID,
                                 metadata={"description": "One sub-account (default: all of the agency's)"})

    @validates_schema
    def _period(self, data, **_kwargs):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("until is before since", field_name="until")


class SelectionSchema(Schema):
    """Which sub-accounts: exactly one of these."""
    sub_accounts = fields.List(fields.Integer(validate=ROW_ID), validate=validate.Length(min=1, max=1000),
                               metadata={"description": "These sub-accounts (ids)"})
    crm = fields.String(validate=validate.OneOf(sorted(registry.PROVIDERS)),
                        metadata={"description": "Every sub-account on this CRM"})
    all = fields.Boolean(metadata={"description": "Every sub-account of the agency"})
    trade = fields.String(validate=validate.OneOf(sorted(PACKS)),
                          metadata={"description": "Every sub-account whose last applied pack is this trade's"})

    @validates_schema
    def _one_way(self, data, **_kwargs):
        ways = [bool(data.get("sub_accounts")), "crm" in data, bool(data.get("all")), "trade" in data]
        if sum(ways) != 1:
            raise ValidationError("choose the sub-accounts one way: sub_accounts, crm, trade, or all: true")


class BulkChangeInSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["switch_workflow", "apply_pack"]))
    select = fields.Nested(SelectionSchema, required=True)
    workflow = fields.String(metadata={"description": "switch_workflow: which workflow"})
    enabled = fields.Boolean(metadata={"description": "switch_workflow: on or off"})
    pack = fields.String(metadata={"description": "apply_pack: the trade's pack"})

    @validates_schema
    def _fields_of_action(self, data, **_kwargs):
        if data.get("action") == "switch_workflow":
            missing = [f for f in ("workflow", "enabled") if f not in data]
            if missing:
                raise ValidationError(f"switch_workflow needs {' and '.join(missing)}", field_name=missing[0])
        elif data.get("action") == "apply_pack" and "pack" not in data:
            raise ValidationError("apply_pack needs pack", field_name="pack")


class BulkChangeSchema(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    params = fields.Dict(required=True)
    sub_accounts = fields.List(fields.Integer(), required=True)
    actor = fields.String(required=True, metadata={"description": "Who made it"})
    created_at = fields.DateTime(required=True)
    undone_at = fields.DateTime(allow_none=True, required=True)
    undone_by = fields.String(allow_none=True, required=True)


class BulkChangeListSchema(Schema):
    bulk_changes = fields.List(fields.Nested(BulkChangeSchema), required=True)


class ConcernSchema(Schema):
    sub_account = fields.Integer(required=True)
    sub_account_name = fields.String(required=True)
    crm_account_id = fields.String(required=True, metadata={"description": "The CRM's own id of the sub-account"})
    kind = fields.String(required=True, metadata={
        "description": "not_texting, token, quiet (calls stopped arriving), failed_writes, doubled (the CRM's own "
                       "text back too), catch_up; listed in this order of urgency"})
    what = fields.String(required=True)
    fix = fields.String(required=True, metadata={"description": "The one thing to do"})
    count = fields.Integer(required=True, metadata={"description": "Callers, writes or texts concerned"})


class FailedWriteSchema(Schema):
    id = fields.Integer(required=True)
    sub_account = fields.Integer(required=True)
    recovery = fields.Integer(required=True)
    write = fields.String(required=True, metadata={"description": "contact, deal, stage, note, task, text_status..."})
    error = fields.String(allow_none=True, required=True, metadata={"description": "What the CRM answered"})
    attempts = fields.Integer(required=True)
    last_tried = fields.DateTime(required=True)


class HealthSchema(Schema):
    concerns = fields.List(fields.Nested(ConcernSchema), required=True)
    failed_writes = fields.List(fields.Nested(FailedWriteSchema), required=True)


class RetryInSchema(Schema):
    """Which failed writes: exactly one of these."""
    ids = fields.List(fields.Integer(validate=ROW_ID), validate=validate.Length(min=1, max=1000))
    all = fields.Boolean(metadata={"description": "Every failed write of the agency's sub-accounts"})

    @validates_schema
    def _one_way(self, data, **_kwargs):
        if bool(data.get("ids")) == bool(data.get("all")):
            raise ValidationError("choose the writes one way: ids, or all: true")


class RetryOutSchema(Schema):
    retried = fields.List(fields.Integer(), required=True, metadata={
        "description": "The writes put back in line (the worker applies them now)"})
