"""Feature plugins, each a package exposing ``plugin = Plugin(...)``.

``FLAGS`` is the one list of plugins: their names in menu order and the flag that switches each (SPEC.md
"Feature flags"; the seed names ``FEATURE_SUPPORTBOT`` and ``FEATURE_RISKBOT`` are kept). Settings declare
the flags from it, ``create_app`` loads the plugins from it, and a ``Plugin`` takes its flag from it.
This module imports nothing: the core reads the list without importing any plugin.
"""

FLAGS: dict[str, str] = {
    "publish": "FEATURE_PUBLISH",
    "byop": "FEATURE_BYOP",
    "sharekit": "FEATURE_SHAREKIT",
    "earnings": "FEATURE_EARNINGS",
    "support": "FEATURE_SUPPORTBOT",
    "risk": "FEATURE_RISKBOT",
    "monitoring": "FEATURE_MONITORING",
}

#: Plugin names in menu order.
AVAILABLE: tuple[str, ...] = tuple(FLAGS)
