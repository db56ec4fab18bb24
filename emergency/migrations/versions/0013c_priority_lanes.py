"""priority lanes: broadcast.priority (emergency, high, normal); existing broadcasts: normal

Revision ID: 0013c_priority_lanes
Revises: 0001_foundation
Create Date: 2026-12-06 07:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel

revision = '0013c_priority_lanes'
down_revision = '0001_foundation'
branch_labels = ('priority_lanes',)
depends_on = ['0003_alerts']


def upgrade() -> None:
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(length=12), server_default='normal', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('broadcast', schema=None) as batch_op:
        batch_op.drop_column('priority')
