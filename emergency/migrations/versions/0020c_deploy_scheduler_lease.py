"""deploy (issue 20): the scheduler lease

Which scheduler is active is decided in the database (one row, renewed on the database's
clock), no longer by a lock in Redis, which anyone with a Redis client could forge and renew.
A new table only (rolling upgrade: schedulers of the previous version still use the Redis lock
and ignore it; upgrade the schedulers together).

Revision ID: 0020c_deploy_scheduler_lease
Revises: 0020b_deploy_message_erase_index
Create Date: 2026-12-06 10:29:55.768112
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020c_deploy_scheduler_lease'
down_revision = '0020b_deploy_message_erase_index'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduler_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease'))
    )


def downgrade() -> None:
    op.drop_table('scheduler_lease')
