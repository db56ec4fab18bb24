"""alerts: a message's own text (message.body), for SMS to named people with a personal link

Revision ID: 0006_alerts_message_body
Revises: 0005_alerts_push
Create Date: 2026-11-23 13:45:14.749671
"""
from alembic import op
import sqlalchemy as sa


revision = '0006_alerts_message_body'
down_revision = '0005_alerts_push'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('body')
