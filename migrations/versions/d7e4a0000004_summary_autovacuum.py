"""PostgreSQL: vacuum the live summary after a fixed number of dead rows, not a fifth
of the table

Revision ID: d7e4a0000004
Revises: d7e3a0000003
Create Date: 2026-11-30 16:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd7e4a0000004'
down_revision = 'd7e3a0000003'
branch_labels = None
depends_on = None

# Every stored rating updates four rows of rating_summary (its window's day, week,
# month and year), so a busy hall leaves dead row versions there much faster than in
# any other table, all on the few pages that hold the current periods. With several
# servers writing at once, PostgreSQL's page pruning often finds those pages pinned by
# another writer and leaves the dead versions in place: in bench/ingest.py, after
# two servers had stored 60,000 ratings, the 240 live rows took 135 pages and storing
# a rating cost PostgreSQL four times the CPU (0.08 ms became 0.35 ms) until a VACUUM.
# The default trigger, a fifth of the table dead, grows with the years of summary
# kept (millions of rows in a city): it would come once an hour or less. A fixed
# threshold has autovacuum visit it every minute or so in a busy city, and vacuuming
# only the pages changed since the last visit costs little.
THRESHOLD = 10000


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE rating_summary SET (autovacuum_vacuum_scale_factor = 0, '
                   f'autovacuum_vacuum_threshold = {THRESHOLD})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE rating_summary RESET (autovacuum_vacuum_scale_factor, '
                   'autovacuum_vacuum_threshold)')
