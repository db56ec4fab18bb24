"""drills: `exercise` on every field-operation record (existing rows are real: false), a
shelter's drill state, drill users, evacuation orders linked to the broadcasts drafted with them

Revision ID: 0013b_exercise_flags
Revises: 0001_foundation
Create Date: 2026-12-06 04:00:38.533627
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0013b_exercise_flags'
down_revision = '0001_foundation'
branch_labels = ('drills',)
depends_on = ['0004_field', '0007_signals_expiry']


def upgrade() -> None:
    op.create_table('drill_user',
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_drill_user_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_drill_user'))
    )
    with op.batch_alter_table('crew', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_crew_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('crew_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_crew_task_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('evacuation_movement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_evacuation_movement_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('evacuation_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shelter_ids', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lift_broadcast_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_evacuation_order_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evacuation_order_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('field_report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_field_report_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_hazard_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('help_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_help_request_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('hotline_call', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('inspection_group', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('patrol_trip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_patrol_trip_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('resident_check', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_resident_check_exercise'), ['exercise'], unique=False)

    with op.batch_alter_table('shelter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise_is_open', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('exercise_occupancy', sa.Integer(), server_default=sa.text('0'), nullable=False))

    with op.batch_alter_table('vulnerable_resident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exercise', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_vulnerable_resident_exercise'), ['exercise'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('vulnerable_resident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vulnerable_resident_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('shelter', schema=None) as batch_op:
        batch_op.drop_column('exercise_occupancy')
        batch_op.drop_column('exercise_is_open')

    with op.batch_alter_table('resident_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resident_check_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('patrol_trip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patrol_trip_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('inspection_group', schema=None) as batch_op:
        batch_op.drop_column('exercise')

    with op.batch_alter_table('hotline_call', schema=None) as batch_op:
        batch_op.drop_column('exercise')

    with op.batch_alter_table('help_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_help_request_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hazard_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('field_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_report_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('evacuation_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evacuation_order_exercise'))
        batch_op.drop_index(batch_op.f('ix_evacuation_order_broadcast_id'))
        batch_op.drop_column('exercise')
        batch_op.drop_column('lift_broadcast_id')
        batch_op.drop_column('broadcast_id')
        batch_op.drop_column('shelter_ids')

    with op.batch_alter_table('evacuation_movement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evacuation_movement_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('crew_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crew_task_exercise'))
        batch_op.drop_column('exercise')

    with op.batch_alter_table('crew', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crew_exercise'))
        batch_op.drop_column('exercise')

    op.drop_table('drill_user')
