"""Admin pages for tracking: networks (secret rotation), offers, FX rates, conversions needing review,
the postback log. Routes sit on the admin blueprint."""

from __future__ import annotations

from contentflow.plugin import NavItem

#: Core admin menu entries of this module (rendered with the plugins' entries).
NAV: tuple[NavItem, ...] = ()
