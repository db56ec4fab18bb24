"""signals: expiry of a signal in force (active_signal.expires_at, signal_change.expires_at)

Revision ID: 0007_signals_expiry
Revises: 0002_signals_cap_rules
Create Date: 2026-11-23 13:45:14.749671
"""
from alembic import op
import sqlalchemy as sa


revision = '0007_signals_expiry'
down_revision = '0002_signals_cap_rules'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('active_signal', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_active_signal_expires_at'), ['expires_at'], unique=False)

    with op.batch_alter_table('signal_change', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('signal_change', schema=None) as batch_op:
        batch_op.drop_column('expires_at')

    with op.batch_alter_table('active_signal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_active_signal_expires_at'))
        batch_op.drop_column('expires_at')
