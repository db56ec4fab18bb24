"""alerts: a broadcast's outbox written in chunks (broadcast.audience_complete, audience_cursor)

Revision ID: 0008_alerts_audience_chunks
Revises: 0006_alerts_message_body
Create Date: 2026-11-23 17:15:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0008_alerts_audience_chunks'
down_revision = '0006_alerts_message_body'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('audience_complete', sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column('audience_cursor', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('audience_cursor')
        batch_op.drop_column('audience_complete')
