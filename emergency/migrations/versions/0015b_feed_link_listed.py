"""feeds: feed_link.listed, the links an index listed when last read (followed again while the
index answers 304 Not Modified)

Revision ID: 0015b_feed_link_listed
Revises: 0015a_cap_raw_feed_links
Create Date: 2026-12-06 04:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015b_feed_link_listed'
down_revision = '0015a_cap_raw_feed_links'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feed_link', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('listed', sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('feed_link', schema=None) as batch_op:
        batch_op.drop_column('listed')
