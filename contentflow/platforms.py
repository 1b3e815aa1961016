"""The social platforms ContentFlow publishes to: the one list that settings, models, their database
constraints and the plugins read."""

PLATFORMS: tuple[str, ...] = ("youtube", "pinterest", "reddit", "instagram")
