"""Weekly summary emails: one row per sub-account and week, claimed before sending

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 11:15:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'weekly_summaries',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sub_account_id', sa.Integer(), sa.ForeignKey('sub_accounts.id'), nullable=False),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('sub_account_id', 'week', name='uq_weekly_summaries_sub_week'),
    )


def downgrade() -> None:
    op.drop_table('weekly_summaries')
