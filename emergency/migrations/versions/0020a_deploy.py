"""deploy (issue 20): the audit chain's seal, the JSON job store, what retention erases

- scheduled_job: timed jobs as JSON naming a registered function (never a pickle); the old
  `apscheduler_jobs` table is left for processes of the previous version (rolling upgrade:
  additive first) and may be dropped once none runs;
- audit_entry.seal: HMAC of each row's hash with TYPHOON_AUDIT_KEY;
- message.erased_at (its index: 0020b, built without locking the outbox), hotline_call.erased_at,
  photo.deleted_at;
  liaison_notice_recipient.token nullable (expired ack links are dropped).

Revision ID: 0020a_deploy
Revises:
Create Date: 2026-12-06 03:48:47.933859
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0020a_deploy'
down_revision = None
branch_labels = ('deploy',)
depends_on = ['0007_signals_expiry', '0008_alerts_audience_chunks', '0004_field']


def upgrade() -> None:
    op.create_table('scheduled_job',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=191), nullable=False),
    sa.Column('next_run_time', sa.Float(), nullable=True),
    sa.Column('job_state', sa.Text(), nullable=False),
    sa.Column('func', sa.String(length=120), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_job'))
    )
    with op.batch_alter_table('scheduled_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_job_next_run_time'), ['next_run_time'], unique=False)

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))

    with op.batch_alter_table('hotline_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('liaison_notice_recipient', schema=None) as batch_op:
        batch_op.alter_column('token',
               existing_type=sa.VARCHAR(length=64),
               nullable=True)

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('liaison_notice_recipient', schema=None) as batch_op:
        batch_op.alter_column('token',
               existing_type=sa.VARCHAR(length=64),
               nullable=False)

    with op.batch_alter_table('hotline_call', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_column('seal')

    with op.batch_alter_table('scheduled_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_job_next_run_time'))

    op.drop_table('scheduled_job')
