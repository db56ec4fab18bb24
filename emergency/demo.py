"""Demo data for `typhoon serve --demo` (and `make run`): users with known roles, so a newcomer
can sign in and try everything. Idempotent: running twice adds nothing twice.

The living demo's replay runs as its own drill users (`demo-drill`, an operator, and
`demo-drill-approver`, the second person who approves its evacuation order; both marked as
drill users): everything it does is an exercise, and nothing is credited to the duty staff.
"""

from __future__ import annotations

import logging

from emergency.auth import service as auth_service
from emergency.auth.sessions import service as session_service
from emergency.auth.sessions.models import UserPassword
from emergency.drills import service as drill_service
from emergency.runtime import Runtime

log = logging.getLogger(__name__)

DRILL_USER = "demo-drill"
DRILL_APPROVER = "demo-drill-approver"  # the drill's second person (two-person rule)
DEMO_USERS = [
    ("duty-operator", "operator"),
    ("duty-approver", "approver"),
    ("macau-liaison", "liaison"),
    ("field-team-1", "field"),
    ("wall-screen", "viewer"),
    ("admin", "admin"),
    (DRILL_USER, "operator"),
    (DRILL_APPROVER, "approver"),
]
# Demo mode only (the page at / says so): every demo user signs in with this password.
DEMO_PASSWORD = "yagi-drill-2024"


def load(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Create the demo users if missing; return a fresh token for each (demo mode only)."""
    from emergency.field import demo as field_demo
    from emergency.subscribers import demo as subscriber_demo

    db = runtime.db
    tokens: dict[str, dict[str, str]] = {}
    with db.unit_of_work() as session:
        for name, role in DEMO_USERS:
            user = auth_service.get_by_name(session, name)
            if user is None:
                user, token = auth_service.create_user(
                    session, name=name, role=role, actor="demo", demo=True
                )
            elif user.demo:
                token = auth_service.issue_token(session, user=user, actor="demo", label="demo")
            else:  # a real user of that name: never a token for it, never on the page
                log.warning("demo: a real user is named %r; no demo token for it", name)
                continue
            if name in (DRILL_USER, DRILL_APPROVER):
                drill_service.mark_drill_user(session, user=user, actor="demo", label="demo replay")
            if session.get(UserPassword, user.id) is None:
                session_service.set_password(
                    session, user=user, password=DEMO_PASSWORD, actor="demo"
                )
            tokens[name] = {"role": role, "token": token}
    log.info("demo users ready: %s", ", ".join(tokens))
    field_demo.load(db, runtime.config)  # field operations
    subscriber_demo.load(db, runtime.settings, zones=runtime.zones)  # subscribers
    return tokens
