"""asset media facts and posting state

- assets: duration, frame size and cover still, as ffprobe and ffmpeg read them at ingestion;
- assignments: ``needs_review`` (a post whose outcome could not be found out), when a worker took it,
  when it was posted, the marker put in the post; ``needs_review`` is live (the post may exist), so the
  one-live-assignment index covers it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:22:16.842329

"""
from alembic import op
import sqlalchemy as sa

import contentflow.models.base


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_LIVE = "status IN ('pending', 'approved', 'posting', 'posted')"
NEW_LIVE = "status IN ('pending', 'approved', 'posting', 'posted', 'needs_review')"
OLD_STATUSES = "status IN ('pending', 'approved', 'posting', 'posted', 'failed', 'skipped')"
NEW_STATUSES = "status IN ('pending', 'approved', 'posting', 'posted', 'failed', 'skipped', 'needs_review')"


def upgrade():
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('duration_ms', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('height', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('cover_path', sa.String(length=500), nullable=True))

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('posting_started_at', contentflow.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('posted_at', contentflow.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('post_tag', sa.String(length=40), nullable=True))
        batch_op.create_index('ix_assignments_account_posting', ['partner_account_id', 'posting_started_at'], unique=False)
        batch_op.drop_constraint(op.f('ck_assignments_status'), type_='check')
        batch_op.create_check_constraint('status', NEW_STATUSES)
        batch_op.drop_index('uq_assignments_live', postgresql_where=sa.text(OLD_LIVE), sqlite_where=sa.text(OLD_LIVE))
        batch_op.create_index('uq_assignments_live', ['asset_id', 'partner_id', 'platform'], unique=True, postgresql_where=sa.text(NEW_LIVE), sqlite_where=sa.text(NEW_LIVE))


def downgrade():
    op.execute("UPDATE assignments SET status = 'failed' WHERE status = 'needs_review'")
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_live', postgresql_where=sa.text(NEW_LIVE), sqlite_where=sa.text(NEW_LIVE))
        batch_op.create_index('uq_assignments_live', ['asset_id', 'partner_id', 'platform'], unique=True, postgresql_where=sa.text(OLD_LIVE), sqlite_where=sa.text(OLD_LIVE))
        batch_op.drop_constraint(op.f('ck_assignments_status'), type_='check')
        batch_op.create_check_constraint('status', OLD_STATUSES)
        batch_op.drop_index('ix_assignments_account_posting')
        batch_op.drop_column('post_tag')
        batch_op.drop_column('posted_at')
        batch_op.drop_column('posting_started_at')

    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('cover_path')
        batch_op.drop_column('height')
        batch_op.drop_column('width')
        batch_op.drop_column('duration_ms')
