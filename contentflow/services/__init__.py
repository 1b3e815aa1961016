"""Core services: plain functions grouped by noun. They validate, change state, flush, and raise domain
errors; they never commit, never read ``request`` and never render."""
