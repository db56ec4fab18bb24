"""Fixtures of the security tests: those of the mass-alert tests (Twilio credentials, so that
webhooks can be signed) and of the field-operation tests (`app` with a data dir, `api`); and
after every test that had a database, its audit chain must verify (`typhoon audit verify`'s
check): no attack in this suite may leave a changed, missing or unchained entry."""

import pytest

from tests.emergency.broadcasts.conftest import alerts_app, alerts_settings  # noqa: F401
from tests.emergency.field.conftest import api, app  # noqa: F401


@pytest.fixture(autouse=True)
def _audit_chain_verifies(request):
    if "database_url" not in request.fixturenames:
        yield
        return
    url = request.getfixturevalue("database_url")  # so it is dropped after this check
    yield
    from emergency.audit import service as audit_service
    from emergency.db import Database

    db = Database(url)
    try:
        with db.session() as session:
            result = audit_service.verify(session)
    finally:
        db.dispose()
    assert result.ok, f"audit chain broken after the test: {result.problems[:5]}"
