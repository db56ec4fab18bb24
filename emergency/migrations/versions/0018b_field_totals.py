"""field totals (issue 18): the counters a field event's totals are read from

`field_total` keeps, per exercise flag, the figures the field events carry (reports by kind,
hazards and requests for help by status, groups, trips, patrols under way, person- and
vehicle-trips), filled here from the tables; emergency.field.totals changes them under the
audit chain's lock. The partial index serves the hazards' overdue count (unresolved only).

Revision ID: 0018b_field_totals
Revises: 0013b_exercise_flags
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0018b_field_totals'
down_revision = '0013b_exercise_flags'
branch_labels = None
depends_on = None

# (section, name, value) per exercise flag, counted from the tables as they are
_FILL = [
    "SELECT exercise, 'reports', kind, count(*) FROM field_report GROUP BY exercise, kind",
    "SELECT exercise, 'hazards', status, count(*) FROM hazard GROUP BY exercise, status",
    "SELECT exercise, 'help_requests', status, count(*) FROM help_request "
    "GROUP BY exercise, status",
    "SELECT exercise, 'inspections', 'groups', count(*) FROM inspection_group GROUP BY exercise",
    "SELECT exercise, 'inspections', 'trips', count(*) FROM patrol_trip GROUP BY exercise",
    "SELECT exercise, 'inspections', 'on_patrol', count(*) FROM patrol_trip "
    "WHERE status = 'open' GROUP BY exercise",
    "SELECT exercise, 'inspections', 'person_trips', sum(persons) FROM patrol_trip "
    "GROUP BY exercise",
    "SELECT exercise, 'inspections', 'vehicle_trips', sum(vehicles) FROM patrol_trip "
    "GROUP BY exercise",
]


def upgrade() -> None:
    op.create_table('field_total',
    sa.Column('exercise', sa.Boolean(), nullable=False),
    sa.Column('section', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('exercise', 'section', 'name', name=op.f('pk_field_total'))
    )
    for select in _FILL:
        op.execute(f"INSERT INTO field_total (exercise, section, name, value) {select}")
    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.create_index(
            'ix_hazard_unresolved_due',
            ['exercise', 'due_at'],
            unique=False,
            postgresql_where=sa.text("status IN ('open', 'assigned')"),
            sqlite_where=sa.text("status IN ('open', 'assigned')"),
        )


def downgrade() -> None:
    with op.batch_alter_table('hazard', schema=None) as batch_op:
        batch_op.drop_index('ix_hazard_unresolved_due')
    op.drop_table('field_total')
