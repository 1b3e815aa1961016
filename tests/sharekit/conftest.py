"""The share kit's tests use BYOP's fixtures: a kit is most often a BYOP submission's."""

from tests.byop.conftest import make_account, make_submission, offer, partner  # noqa: F401 - shared fixtures
