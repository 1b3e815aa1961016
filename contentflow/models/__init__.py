"""Core models, one module per aggregate. Importing this package registers every core table."""

from contentflow.models.asset import Asset
from contentflow.models.assignment import Assignment
from contentflow.models.audit import AuditLog
from contentflow.models.conversion import Conversion
from contentflow.models.fx import FxRate
from contentflow.models.hold import Hold
from contentflow.models.ledger import LedgerEntry
from contentflow.models.offer import Network, Offer
from contentflow.models.outbox import OutboxMessage
from contentflow.models.partner import AdminUser, MagicLinkToken, Partner
from contentflow.models.partner_account import PartnerAccount
from contentflow.models.payout import Payout
from contentflow.models.postback_log import PostbackLog
from contentflow.models.short_link import Click, ShortLink

__all__ = [
    "AdminUser",
    "Asset",
    "Assignment",
    "AuditLog",
    "Click",
    "Conversion",
    "OutboxMessage",
    "FxRate",
    "Hold",
    "LedgerEntry",
    "MagicLinkToken",
    "Network",
    "Offer",
    "Partner",
    "PartnerAccount",
    "Payout",
    "PostbackLog",
    "ShortLink",
]
