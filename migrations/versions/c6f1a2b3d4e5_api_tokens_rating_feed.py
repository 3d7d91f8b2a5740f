"""API tokens; the rating feed's cursor column (the inserting transaction)

Revision ID: c6f1a2b3d4e5
Revises: a3eb583bc864
Create Date: 2026-11-30 06:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c6f1a2b3d4e5'
down_revision = 'a3eb583bc864'
branch_labels = None
depends_on = None

# PostgreSQL hands out ids before commit, so ratings commit out of id order; the read
# API pages by (txid, id) and only over transactions older than every running one
# (kiosk/readapi.py). xid8 is 64-bit and never wraps; bigint holds it. SQLite
# serializes writers, so id order is commit order there and txid stays 0.
PG_TXID = sa.text("(pg_current_xact_id()::text::bigint)")


def upgrade():
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('name', name=op.f('uq_api_token_name')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_api_token_secret_hash'))
    )
    # Rows already stored are all committed: 0 puts them first, in id order.
    op.add_column('rating', sa.Column('txid', sa.BigInteger(), nullable=False,
                                      server_default='0'))
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('rating', 'txid', server_default=PG_TXID)
    op.create_index('ix_rating_feed', 'rating', ['txid', 'id'])


def downgrade():
    op.drop_index('ix_rating_feed', table_name='rating')
    with op.batch_alter_table('rating') as batch_op:
        batch_op.drop_column('txid')
    op.drop_table('api_token')
