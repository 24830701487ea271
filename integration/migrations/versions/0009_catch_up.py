"""Catch-up for calls whose webhook never came: how far each sub-account's calls were listed, and
which stored events a catch-up pass found

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 22:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        # The vendor's calls were listed up to this time (the next pass starts a little before it),
        # when the last pass that got an answer ran, what the last one that did not was told, and
        # how many calls catch-up found that no webhook had brought.
        batch_op.add_column(sa.Column('caught_up_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('caught_up_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('catch_up_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('catch_up_found', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        # NULL: a webhook brought it; "catch_up": a catch-up pass found it (texted only while it helps).
        batch_op.add_column(sa.Column('found_by', sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_column('found_by')
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.drop_column('catch_up_found')
        batch_op.drop_column('catch_up_error')
        batch_op.drop_column('caught_up_at')
        batch_op.drop_column('caught_up_until')
