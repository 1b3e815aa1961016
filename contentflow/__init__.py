"""ContentFlow: a self-hosted partner network for affiliate video assets."""

from contentflow.app import create_app

__all__ = ["create_app"]
