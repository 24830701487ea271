"""events retry on their own schedule and can fail for good; sub-accounts can be removed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        # When the one scheduled retry of a pending event is due: the sweeper starts no second chain.
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sub_accounts', schema=None) as batch_op:
        batch_op.drop_column('removed_at')

    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_column('next_attempt_at')
