"""Demo data for `typhoon serve --demo` (and `make run`): users with known roles, so a newcomer
can sign in and try everything. Idempotent: running twice adds nothing twice."""

from __future__ import annotations

import logging

from emergency.auth import service as auth_service

log = logging.getLogger(__name__)

DEMO_USERS = [
    ("duty-operator", "operator"),
    ("duty-approver", "approver"),
    ("macau-liaison", "liaison"),
    ("field-team-1", "field"),
    ("wall-screen", "viewer"),
    ("admin", "admin"),
]


def load(db, settings) -> dict[str, dict[str, str]]:
    """Create the demo users if missing; return a fresh token for each (demo mode only)."""
    tokens: dict[str, dict[str, str]] = {}
    with db.unit_of_work() as session:
        for name, role in DEMO_USERS:
            user = auth_service.get_by_name(session, name)
            if user is None:
                user, token = auth_service.create_user(session, name=name, role=role, actor="demo")
            else:
                token = auth_service.issue_token(session, user=user, actor="demo", label="demo")
            tokens[name] = {"role": role, "token": token}
    log.info("demo users ready: %s", ", ".join(tokens))
    __import__("emergency.field.demo", fromlist=["load"]).load(db, settings)  # field operations
    __import__("emergency.subscribers.demo", fromlist=["load"]).load(db, settings)  # subscribers
    return tokens
