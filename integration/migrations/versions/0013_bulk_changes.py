"""Agencies' bulk changes to their sub-accounts, with what each was before (for undo)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 08:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'bulk_changes',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('agency_id', sa.Integer(), sa.ForeignKey('agencies.id'), nullable=False),
        sa.Column('actor', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('sub_account_ids', sa.JSON(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('undone_by', sa.String(length=200), nullable=True),
    )
    op.create_index('ix_bulk_changes_agency_id', 'bulk_changes', ['agency_id'])


def downgrade() -> None:
    op.drop_index('ix_bulk_changes_agency_id', table_name='bulk_changes')
    op.drop_table('bulk_changes')
