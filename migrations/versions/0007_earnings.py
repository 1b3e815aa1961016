"""earnings: public referral codes for partners, the referral bonus claims

- ``partners.referral_code``: the public code of a partner's share link (``/partners?ref=<code>``), so
  that a link never carries a partner id. Unique, random; existing partners get one here.
- ``partners.referrer_id`` gets an index (a referrer's list of referred partners).
- ``earnings_referral_bonuses``: one row per referred partner's earning that gave (or reversed) the
  referrer's bonus; its primary key is the source ledger entry, so a bonus is written once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 10:00:00

"""
import secrets
import string

from alembic import op
import sqlalchemy as sa

import contentflow.models.base


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

#: As ``contentflow.models.partner.new_referral_code`` makes them (copied: a migration stays as written).
CODE_ALPHABET = string.ascii_lowercase + string.digits
CODE_LENGTH = 10


def backfill_referral_codes() -> None:
    """A random code for every partner that has none (every existing partner), each distinct."""
    connection = op.get_bind()
    partners = sa.table('partners', sa.column('id', sa.String), sa.column('referral_code', sa.String))
    ids = connection.execute(sa.select(partners.c.id).where(partners.c.referral_code.is_(None))).scalars()
    used: set[str] = set()
    for partner_id in list(ids):
        code = ''
        while not code or code in used:
            code = ''.join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        used.add(code)
        connection.execute(
            sa.update(partners).where(partners.c.id == partner_id).values(referral_code=code)
        )


def upgrade():
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.add_column(sa.Column('referral_code', sa.String(length=16), nullable=True))
    backfill_referral_codes()
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.alter_column('referral_code', existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_partners_referral_code'), ['referral_code'])
        batch_op.create_index(batch_op.f('ix_partners_referrer_id'), ['referrer_id'], unique=False)

    op.create_table('earnings_referral_bonuses',
    sa.Column('source_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('referrer_id', sa.String(length=12), nullable=False),
    sa.Column('referred_id', sa.String(length=12), nullable=False),
    sa.Column('bonus_bps', sa.Integer(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('bonus_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reversal_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', contentflow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reversed_at', contentflow.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_earnings_referral_bonuses_amount')),
    sa.ForeignKeyConstraint(['bonus_entry_id'], ['ledger_entries.id'], name=op.f('fk_earnings_referral_bonuses_bonus_entry_id_ledger_entries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['referred_id'], ['partners.id'], name=op.f('fk_earnings_referral_bonuses_referred_id_partners'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['referrer_id'], ['partners.id'], name=op.f('fk_earnings_referral_bonuses_referrer_id_partners'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reversal_entry_id'], ['ledger_entries.id'], name=op.f('fk_earnings_referral_bonuses_reversal_entry_id_ledger_entries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['source_entry_id'], ['ledger_entries.id'], name=op.f('fk_earnings_referral_bonuses_source_entry_id_ledger_entries'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('source_entry_id', name=op.f('pk_earnings_referral_bonuses'))
    )
    with op.batch_alter_table('earnings_referral_bonuses', schema=None) as batch_op:
        batch_op.create_index('ix_earnings_referral_bonuses_referrer', ['referrer_id', 'referred_id'], unique=False)


def downgrade():
    with op.batch_alter_table('earnings_referral_bonuses', schema=None) as batch_op:
        batch_op.drop_index('ix_earnings_referral_bonuses_referrer')

    op.drop_table('earnings_referral_bonuses')
    with op.batch_alter_table('partners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partners_referrer_id'))
        batch_op.drop_constraint(batch_op.f('uq_partners_referral_code'), type_='unique')
        batch_op.drop_column('referral_code')
