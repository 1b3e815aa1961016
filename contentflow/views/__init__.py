"""Core blueprints: auth (landing, magic link), partner (portal), admin, health, dev (development only)."""
