"""The catch-up lag on /metrics read through two partial indexes on sub_accounts instead of a
scan of the table at every scrape

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:05:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

LIVE = sa.text('removed_at IS NULL')
NEVER = sa.text('caught_up_at IS NULL AND removed_at IS NULL')


def upgrade() -> None:
    op.create_index('ix_sub_accounts_caught_up', 'sub_accounts', ['provider', 'caught_up_at'],
                    postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_index('ix_sub_accounts_never_caught_up', 'sub_accounts', ['provider', 'created_at'],
                    postgresql_where=NEVER, sqlite_where=NEVER)


def downgrade() -> None:
    op.drop_index('ix_sub_accounts_never_caught_up', table_name='sub_accounts')
    op.drop_index('ix_sub_accounts_caught_up', table_name='sub_accounts')
