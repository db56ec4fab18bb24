"""cap: received alerts keep their bytes exactly (cap_received.raw); feed links remembered
per feed (feed_link: ETag, Last-Modified, SHA-256 of each linked CAP document)

Revision ID: 0015a_cap_raw_feed_links
Revises: 0001_foundation
Create Date: 2026-12-06 04:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015a_cap_raw_feed_links'
down_revision = '0001_foundation'
branch_labels = ('cap',)
depends_on = ('0007_signals_expiry',)


def upgrade() -> None:
    with op.batch_alter_table('cap_received', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw', sa.LargeBinary(), nullable=True))
    # Alerts received before: their text is all we kept.
    table = sa.table('cap_received', sa.column('id', sa.Integer), sa.column('raw_xml', sa.Text),
                     sa.column('raw', sa.LargeBinary))
    conn = op.get_bind()
    for row_id, text in conn.execute(sa.select(table.c.id, table.c.raw_xml)).all():
        conn.execute(table.update().where(table.c.id == row_id).values(raw=text.encode('utf-8')))

    op.create_table(
        'feed_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('feed_id', sa.String(length=60), nullable=False),
        sa.Column('url', sa.String(length=1000), nullable=False),
        sa.Column('etag', sa.String(length=300), nullable=True),
        sa.Column('last_modified', sa.String(length=100), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('feed_id', 'url'),
    )
    with op.batch_alter_table('feed_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_link_feed_id'), ['feed_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feed_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_link_feed_id'))
    op.drop_table('feed_link')
    with op.batch_alter_table('cap_received', schema=None) as batch_op:
        batch_op.drop_column('raw')
