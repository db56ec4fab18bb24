"""deploy (issue 20): the index the retention purge finds unerased old messages by

On PostgreSQL it is built CONCURRENTLY, outside the migration's transaction: the message table
(the outbox, millions of rows) stays writable for the dispatch workers while it is built. A
build that failed half-way (a lock timeout) leaves an invalid index: dropped and built again
when `typhoon db upgrade` tries again.

Revision ID: 0020b_deploy_message_erase_index
Revises: 0020a_deploy
"""
from alembic import op


revision = '0020b_deploy_message_erase_index'
down_revision = '0020a_deploy'
branch_labels = None
depends_on = None

NAME = 'ix_message_erased_queued'


def upgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.execute(f'DROP INDEX CONCURRENTLY IF EXISTS {NAME}')
            op.create_index(
                NAME, 'message', ['erased_at', 'queued_at'], postgresql_concurrently=True
            )
        return
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(NAME, ['erased_at', 'queued_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(NAME)
