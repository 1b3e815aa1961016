"""Feature plugins, each a package exposing ``plugin = Plugin(...)``.

AVAILABLE lists them in menu order; ``create_app`` registers those whose flag is on.
"""

AVAILABLE = ("publish", "byop", "sharekit", "earnings", "support", "risk", "monitoring")
