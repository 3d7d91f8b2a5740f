"""Paired devices and pairing codes, service events (一次一评), a rating's device,
event and rater (misuse filtering)

Revision ID: 2b2752d8d256
Revises: c6f1a2b3d4e5
Create Date: 2026-11-30 08:51:49.942515

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '2b2752d8d256'
down_revision = 'c6f1a2b3d4e5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=True),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('paired_at', sa.DateTime(), nullable=False),
    sa.Column('paired_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('last_seen_at', sa.DateTime(), nullable=True),
    sa.Column('app_version', sa.String(length=32), nullable=True),
    sa.Column('queued', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['paired_by_id'], ['app_user.id'], name=op.f('fk_device_paired_by_id_app_user')),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['app_user.id'], name=op.f('fk_device_revoked_by_id_app_user')),
    sa.ForeignKeyConstraint(['window_id'], ['service_window.id'], name=op.f('fk_device_window_id_service_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_device_secret_hash'))
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_window_id'), ['window_id'], unique=False)

    op.create_table('evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('ticket', sa.String(length=64), nullable=False),
    sa.Column('case_no', sa.String(length=64), nullable=True),
    sa.Column('service_item', sa.String(length=200), nullable=True),
    sa.Column('service_item_id', sa.Integer(), nullable=True),
    sa.Column('staff_no', sa.String(length=32), nullable=True),
    sa.Column('opened_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_evaluation_device_id_device')),
    sa.ForeignKeyConstraint(['service_item_id'], ['service_item.id'], name=op.f('fk_evaluation_service_item_id_service_item')),
    sa.ForeignKeyConstraint(['token_id'], ['api_token.id'], name=op.f('fk_evaluation_token_id_api_token')),
    sa.ForeignKeyConstraint(['window_id'], ['service_window.id'], name=op.f('fk_evaluation_window_id_service_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation'))
    )
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.create_index('ix_evaluation_window_opened', ['window_id', 'opened_at'], unique=False)

    op.create_table('pairing_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['app_user.id'], name=op.f('fk_pairing_code_created_by_id_app_user')),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_pairing_code_device_id_device')),
    sa.ForeignKeyConstraint(['window_id'], ['service_window.id'], name=op.f('fk_pairing_code_window_id_service_window')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairing_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_pairing_code_code_hash'))
    )
    # Plain ADD COLUMN (no table copy on SQLite: a hall's ratings may be millions).
    if op.get_bind().dialect.name == 'sqlite':  # SQLite takes REFERENCES only inline
        op.execute('ALTER TABLE rating ADD COLUMN device_id INTEGER REFERENCES device (id)')
        op.execute('ALTER TABLE rating ADD COLUMN evaluation_id INTEGER '
                   'REFERENCES evaluation (id)')
    else:
        op.add_column('rating', sa.Column('device_id', sa.Integer(), nullable=True))
        op.add_column('rating', sa.Column('evaluation_id', sa.Integer(), nullable=True))
        op.create_foreign_key(op.f('fk_rating_device_id_device'), 'rating', 'device',
                              ['device_id'], ['id'])
        op.create_foreign_key(op.f('fk_rating_evaluation_id_evaluation'), 'rating',
                              'evaluation', ['evaluation_id'], ['id'])
    op.add_column('rating', sa.Column('rater', sa.String(length=32), nullable=True))
    op.create_index('ix_rating_device_created', 'rating', ['device_id', 'created_at'])
    op.create_index('ix_rating_rater_created', 'rating', ['rater', 'created_at'])
    op.create_index('uq_rating_evaluation_id', 'rating', ['evaluation_id'], unique=True)


def downgrade():
    op.drop_index('uq_rating_evaluation_id', table_name='rating')
    op.drop_index('ix_rating_rater_created', table_name='rating')
    op.drop_index('ix_rating_device_created', table_name='rating')
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_column('rater')
        batch_op.drop_column('evaluation_id')
        batch_op.drop_column('device_id')

    op.drop_table('pairing_code')
    with op.batch_alter_table('evaluation', schema=None) as batch_op:
        batch_op.drop_index('ix_evaluation_window_opened')

    op.drop_table('evaluation')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_window_id'))

    op.drop_table('device')
