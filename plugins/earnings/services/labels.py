"""How a partner is shown to other partners: a masked e-mail, never an id or a link code."""

from __future__ import annotations

#: What a masked local part shows: ``ab…c`` of ``abcdef``; shorter ones keep only their first character.
ELLIPSIS = "…"


def mask_email(email: str) -> str:
    """``abcdef@gmail.com`` -> ``ab…f@gmail.com``; ``abc@gmail.com`` -> ``a…@gmail.com``. The domain is
    kept (the seed's leaderboard shows it); anything that is not an address becomes ``…``."""
    local, at, domain = (email or "").partition("@")
    if not at or not local or not domain:
        return ELLIPSIS
    shown = local[:2] + ELLIPSIS + local[-1:] if len(local) > 3 else local[:1] + ELLIPSIS
    return f"{shown}@{domain}"
