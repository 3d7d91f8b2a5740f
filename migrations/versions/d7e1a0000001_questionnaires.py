"""Questionnaires: surveys, their published versions, responses

Revision ID: d7e1a0000001
Revises: 2b2752d8d256
Create Date: 2026-11-30 12:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7e1a0000001'
down_revision = '2b2752d8d256'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('draft', sa.JSON(), nullable=True),
    sa.Column('current_version', sa.Integer(), nullable=True),
    sa.Column('starts', sa.Date(), nullable=True),
    sa.Column('ends', sa.Date(), nullable=True),
    sa.Column('offer_on_qr', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('offer_on_kiosk', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('survey_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['published_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('survey_id', 'number')
    )
    op.create_table('survey_response',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('window_id', sa.Integer(), nullable=True),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('respondent', sa.String(length=32), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('taken_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['followup_case.id'], ),
    sa.ForeignKeyConstraint(['taken_by_id'], ['app_user.id'], ),
    sa.ForeignKeyConstraint(['version_id'], ['survey_version.id'], ),
    sa.ForeignKeyConstraint(['window_id'], ['service_window.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id'),
    sa.UniqueConstraint('version_id', 'respondent')
    )
    op.create_index('ix_survey_response_version_created', 'survey_response', ['version_id', 'created_at'], unique=False)


def downgrade():
    op.drop_index('ix_survey_response_version_created', table_name='survey_response')
    op.drop_table('survey_response')
    op.drop_table('survey_version')
    op.drop_table('survey')
