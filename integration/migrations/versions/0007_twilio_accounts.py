"""agencies connect their own Twilio accounts; a sub-account remembers the Twilio number it was given

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'twilio_accounts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=True),
        sa.Column('account_sid', sa.String(length=34), nullable=False),
        sa.Column('auth_token', sa.Text(), nullable=False),
        sa.Column('friendly_name', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['agency_id'], ['agencies.id'], name='fk_twilio_accounts_agency_id_agencies'),
        sa.PrimaryKeyConstraint('id', name='pk_twilio_accounts'),
        sa.UniqueConstraint('account_sid', name='uq_twilio_accounts_account_sid'),
        sa.UniqueConstraint('agency_id', name='uq_twilio_accounts_agency_id'),
    )
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('twilio_number_sid', sa.String(length=34), nullable=True))
        # What the number's SMS URL and status callback were before Ringback pointed them at itself.
        batch_op.add_column(sa.Column('twilio_previous', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('messaging_service_sid', sa.String(length=34), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.drop_column('messaging_service_sid')
        batch_op.drop_column('twilio_previous')
        batch_op.drop_column('twilio_number_sid')
    op.drop_table('twilio_accounts')
