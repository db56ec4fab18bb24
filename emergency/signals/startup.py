"""Start-up of the signal flow's domains (CAP, liaison, rules, feeds).

Run as the lifespan of the liaison router (FastAPI runs a router's lifespan inside the app's,
after the database is built and after the routers included before it, so the facilities are
in the database by then). It loads and checks every config file the flow reads, so a mistake
stops the start with file:line:field instead of surfacing at the first typhoon signal, and
copies the liaison contacts into the database, and evaluates the rules once (a rule added to
rules.yaml while its condition holds fires now; nothing already run runs again). Idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)


def prepare(runtime: Any) -> dict[str, int]:
    from emergency.cap import flows as cap_flows
    from emergency.cap import service as cap_service
    from emergency.cap.schema import cap_schema
    from emergency.feeds.config import feeds_config
    from emergency.liaison import service as liaison_service
    from emergency.liaison.config import liaison_config
    from emergency.rules import engine as rules_engine

    cap_flows.mappings(runtime)
    # Built now rather than by the first alert of a storm (the schema takes ~0.2 s).
    cap_schema()
    cap_service.hengqin_area(runtime)
    liaison = liaison_config(runtime)
    rules_engine.ruleset(runtime)
    feeds_config(runtime)
    with runtime.db.unit_of_work() as session:
        added = liaison_service.sync_contacts(session, config=liaison)
    # After a restart (and a rules.yaml edit): what the signals in force call for and has not
    # run yet. Already-run actions are in the journal and are not run again.
    ran = 0
    for exercise in (False, True):
        with runtime.db.unit_of_work() as session:
            ran += len(rules_engine.evaluate(session, runtime=runtime, exercise=exercise))
    return {"liaison_contacts_added": added, "rule_actions_run": ran}


@asynccontextmanager
async def lifespan(app):
    done = await asyncio.to_thread(prepare, app.state.runtime)
    log.info("signal flow ready", extra={"startup": done})
    yield
