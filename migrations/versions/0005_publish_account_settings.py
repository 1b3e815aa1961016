"""publish plugin: per-account settings (autopublish, target, needs reconnect)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 16:25:00

"""
from alembic import op
import sqlalchemy as sa

import contentflow.models.base


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('publish_account_settings',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('autopublish', sa.Boolean(), nullable=False),
    sa.Column('target', sa.String(length=120), nullable=True),
    sa.Column('needs_reconnect', sa.Boolean(), nullable=False),
    sa.Column('reconnect_reason', sa.Text(), nullable=True),
    sa.Column('updated_at', contentflow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['partner_accounts.id'], name=op.f('fk_publish_account_settings_account_id_partner_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_publish_account_settings'))
    )


def downgrade():
    op.drop_table('publish_account_settings')
