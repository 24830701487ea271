"""Indexes for the reports: a sub-account's missed calls by when they started, its recoveries by when
they opened (the dashboard, the agency page and `ringback report` read an agency's period)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:40:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Missed calls only, with their outcome: counted without reading the table.
    op.create_index('ix_calls_missed_sub_started', 'calls', ['sub_account_id', 'started_at', 'outcome'],
                    postgresql_where=sa.text('missed IS true'), sqlite_where=sa.text('missed IS 1'))
    op.create_index('ix_recoveries_sub_opened', 'recoveries', ['sub_account_id', 'opened_at'])
    op.create_index('ix_opt_outs_sub_created', 'opt_outs', ['sub_account_id', 'created_at'])
    # A sub-account's last text out (can it text?), on the agency page per sub-account.
    op.create_index('ix_messages_sub_direction', 'messages', ['sub_account_id', 'direction', 'id'])


def downgrade() -> None:
    op.drop_index('ix_messages_sub_direction', table_name='messages')
    op.drop_index('ix_opt_outs_sub_created', table_name='opt_outs')
    op.drop_index('ix_recoveries_sub_opened', table_name='recoveries')
    op.drop_index('ix_calls_missed_sub_started', table_name='calls')
