"""Twilio accounts connected with an API key; a sub-account remembers what the last check of its sender found

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('twilio_accounts', schema=None) as batch_op:
        # SK...: connected with an API key (auth_token then holds the key's secret, sealed).
        batch_op.add_column(sa.Column('api_key_sid', sa.String(length=34), nullable=True))
        # Sealed: the password in the webhook URLs Ringback gives an API-key account's numbers.
        batch_op.add_column(sa.Column('webhook_login', sa.Text(), nullable=True))
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        # What the last check with the vendor found wrong with the sender (GoHighLevel number gone,
        # A2P 10DLC campaign missing), or NULL; and when that check ran.
        batch_op.add_column(sa.Column('sender_problem', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('sender_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.drop_column('sender_checked_at')
        batch_op.drop_column('sender_problem')
    with op.batch_alter_table('twilio_accounts', schema=None) as batch_op:
        batch_op.drop_column('webhook_login')
        batch_op.drop_column('api_key_sid')
