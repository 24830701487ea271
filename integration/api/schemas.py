"""What the admin API reads and answers, as marshmallow schemas (the OpenAPI document is made
from these)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

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
