"""Admin pages for money: payouts to approve and pay (and their CSV), partner ledgers with adjustments.
Routes sit on the admin blueprint."""

from __future__ import annotations

from contentflow.plugin import NavItem

#: Core admin menu entries of this module (rendered with the plugins' entries).
NAV: tuple[NavItem, ...] = ()
