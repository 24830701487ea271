"""A sub-account's trade: the pack applied to it last (agencies choose sub-accounts by it)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 11:35:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('sub_accounts') as batch:
        batch.add_column(sa.Column('trade', sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sub_accounts') as batch:
        batch.drop_column('trade')
