"""The field tests' fixtures (the real app with a data dir, `api` helpers) serve here too."""

from tests.emergency.field.conftest import api, app  # noqa: F401
