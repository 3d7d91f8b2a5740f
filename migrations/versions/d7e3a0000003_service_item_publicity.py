"""事项公示: service items' time limits and documents, the items a window handles

Revision ID: d7e3a0000003
Revises: d7e2a0000002
Create Date: 2026-11-30 12:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e3a0000003'
down_revision = 'd7e2a0000002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('time_limit_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('documents', sa.Text(), nullable=True))

    op.create_table('window_service_item',
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('service_item_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_window_service_item_service_item_id_service_item')),
    sa.ForeignKeyConstraint(['window_id'], ['service_window.id'], name=op.f('fk_window_service_item_window_id_service_window')),
    sa.PrimaryKeyConstraint('window_id', 'service_item_id', name=op.f('pk_window_service_item'))
    )
    with op.batch_alter_table('window_service_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_window_service_item_service_item_id'), ['service_item_id'], unique=False)


def downgrade():
    with op.batch_alter_table('window_service_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_window_service_item_service_item_id'))

    op.drop_table('window_service_item')
    with op.batch_alter_table('service_item', schema=None) as batch_op:
        batch_op.drop_column('documents')
        batch_op.drop_column('time_limit_days')
