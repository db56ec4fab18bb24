"""journal (issue 18): the audit chain's head kept on its counter row

`sequence_counter.last_hash` is the hash of the row numbered `hash_seq`: the statement that
takes the audit chain's numbers (and its lock) reads the previous hash with them, so writing a
transaction's journal costs no lookup of the previous row. When `hash_seq` is not the counter's
value (rows written before this migration), the writer reads the previous row as before.

Revision ID: 0018a_journal_chain_head
Revises: 0001_foundation
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018a_journal_chain_head'
down_revision = '0001_foundation'
branch_labels = ('hotpath',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sequence_counter', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('last_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column('hash_seq', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sequence_counter', schema=None) as batch_op:
        batch_op.drop_column('hash_seq')
        batch_op.drop_column('last_hash')
