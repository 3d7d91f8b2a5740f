"""Alerts to the office's work chat: the durable outbox

Revision ID: d7e2a0000002
Revises: d7e1a0000001
Create Date: 2026-11-30 12:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e2a0000002'
down_revision = 'd7e1a0000001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=160), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('hall', sa.String(length=100), nullable=False),
    sa.Column('window', sa.String(length=32), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_by', sa.String(length=40), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert')),
    sa.UniqueConstraint('event_key', name=op.f('uq_alert_event_key'))
    )
    op.create_index('ix_alert_status_next', 'alert', ['status', 'next_attempt_at'])
    op.create_index('ix_alert_created', 'alert', ['created_at'])
    op.create_table('alert_cursor',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('txid', sa.BigInteger(), nullable=False),
    sa.Column('rating_id', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_alert_cursor'))
    )


def downgrade():
    op.drop_table('alert_cursor')
    op.drop_index('ix_alert_created', table_name='alert')
    op.drop_index('ix_alert_status_next', table_name='alert')
    op.drop_table('alert')
