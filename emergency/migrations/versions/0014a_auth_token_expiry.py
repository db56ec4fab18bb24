"""auth: token expiry (api_token.expires_at) and demo users (user_account.demo)

Revision ID: 0014a_auth_token_expiry
Revises: 0001_foundation
"""
from alembic import op
import sqlalchemy as sa


revision = '0014a_auth_token_expiry'
down_revision = '0001_foundation'
branch_labels = ('security',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('demo', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('demo')

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
