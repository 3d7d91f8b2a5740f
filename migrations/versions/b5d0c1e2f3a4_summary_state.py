"""summary state: the time zone the live summary was built in

Revision ID: b5d0c1e2f3a4
Revises: 1469fa3497c2
Create Date: 2026-11-30 03:15:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b5d0c1e2f3a4'
down_revision = '1469fa3497c2'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('summary_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('built_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_summary_state'))
    )
    # No time zone yet: the summary (of a database that already has ratings, or one
    # filled by an import before anyone rebuilt it) is stale until kiosk init-db,
    # kiosk serve or kiosk rebuild-summary builds it.
    op.bulk_insert(table, [{"id": 1, "timezone": None, "built_at": None}])


def downgrade():
    op.drop_table('summary_state')
