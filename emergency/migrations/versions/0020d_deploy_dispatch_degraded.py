"""deploy (issue 20 item 7): the dispatch workers sending without Redis right now

A row per degraded worker, so that the situation snapshot (a screen opened during a Redis
outage) lists them. A new table only: workers of the previous version just do not write it.

Revision ID: 0020d_deploy_dispatch_degraded
Revises: 0020c_deploy_scheduler_lease
Create Date: 2026-12-06 10:45:35.257000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020d_deploy_dispatch_degraded'
down_revision = '0020c_deploy_scheduler_lease'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dispatch_degraded',
    sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('without_redis', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('sms_rate', sa.Float(), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_dispatch_degraded'))
    )


def downgrade() -> None:
    op.drop_table('dispatch_degraded')
