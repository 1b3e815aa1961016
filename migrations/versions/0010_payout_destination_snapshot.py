"""payouts keep a snapshot of their destination, and count the changes of details made while open

- ``destination_paypal_email`` / ``destination_iban`` / ``destination_account_holder``: the details a
  payout was requested with, encrypted at rest like the partner's own; the payment file pays these.
- ``details_change_count`` / ``details_changed_to``: how often the partner changed that method's details
  while the payout was open, and the new details (masked); an approval must name the count it saw.

Backfill: each open payout (requested or approved) gets the partner's current details for its method.
They are exactly the details it was requested with: until now the details could not change while a
withdrawal was open. The ciphertext is copied as it is (same keys), so nothing is decrypted here. Paid
and rejected payouts keep no snapshot: today's details may not be what was paid, and only open payouts
are ever paid from it; their masked ``details_masked`` stays as it was.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10 10:00:00

"""

from alembic import op
import sqlalchemy as sa

import contentflow.security


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = "status IN ('requested', 'approved')"


def upgrade():
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destination_paypal_email", contentflow.security.EncryptedText(), nullable=True))
        batch_op.add_column(sa.Column("destination_iban", contentflow.security.EncryptedText(), nullable=True))
        batch_op.add_column(sa.Column("destination_account_holder", contentflow.security.EncryptedText(), nullable=True))
        batch_op.add_column(sa.Column("details_change_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("details_changed_to", sa.String(length=120), nullable=True))

    # Correlated subqueries: the same statement on PostgreSQL and SQLite.
    op.execute(
        "UPDATE payouts SET destination_paypal_email = "
        "(SELECT payout_paypal_email FROM partners WHERE partners.id = payouts.partner_id) "
        f"WHERE method = 'paypal' AND {OPEN}"
    )
    op.execute(
        "UPDATE payouts SET "
        "destination_iban = (SELECT payout_iban FROM partners WHERE partners.id = payouts.partner_id), "
        "destination_account_holder = "
        "(SELECT payout_account_holder FROM partners WHERE partners.id = payouts.partner_id) "
        f"WHERE method = 'bank' AND {OPEN}"
    )


def downgrade():
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_column("details_changed_to")
        batch_op.drop_column("details_change_count")
        batch_op.drop_column("destination_account_holder")
        batch_op.drop_column("destination_iban")
        batch_op.drop_column("destination_paypal_email")
