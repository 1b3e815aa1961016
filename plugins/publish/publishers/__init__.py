"""One publisher module per platform, each speaking that platform's real API (see ``base``)."""

from __future__ import annotations

import importlib
from types import ModuleType

from contentflow.platforms import PLATFORMS


def publisher(platform: str) -> ModuleType:
    """The module ``publishers/<platform>.py``. Raises KeyError for an unknown platform."""
    if platform not in PLATFORMS:
        raise KeyError(platform)
    return importlib.import_module(f"plugins.publish.publishers.{platform}")
