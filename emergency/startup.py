"""The ordered start-up every process runs on its Runtime: `startup(runtime)`.

One list of steps, in order; each process runs those of its role (`STEPS`):

1. `check_config`: every config file loaded and cross-checked (`emergency.config.ConfigSet`),
   and the CAP schema built, so a mistake stops the start with file:line:field instead of
   surfacing at the first typhoon signal (API, scheduler, CLI commands that act).
2. `seed_reference_data`: facilities (config/facilities.yaml) and shelters
   (config/zones/shelters.geojson) copied into the database: new ones added, live occupancy
   and open flags kept (API).
3. `sync_liaison_contacts`: config/liaison.yaml's contacts into the database (API).
4. `evaluate_rules`: what the signals in force call for and has not run yet (a rule added to
   rules.yaml while its condition holds fires now; what already ran is in the journal and
   does not run again) (API).

Idempotent: replicas starting together each run it. The demo data (`typhoon serve --demo`)
is loaded by the app between steps 3 and 4, as the rules may act on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from emergency.config import ConfigSet
from emergency.db import Database
from emergency.runtime import Role, Runtime

log = logging.getLogger(__name__)


def check_config(runtime: Runtime) -> dict[str, int]:
    from emergency.cap.xsd import cap_schema

    runtime.config.check()
    cap_schema()  # built now rather than by the first alert of a storm (~0.2 s)
    return {}


def seed_reference_data(db: Database, config: ConfigSet) -> dict[str, int]:
    """Copy facilities and shelters from config/ into the database (both idempotent)."""
    from emergency.evacuation import service as evacuation_service
    from emergency.facilities import service as facility_service

    facilities, shelters, zones = config.facilities, config.shelters, config.zones
    have_shelters = config.shelters_path.exists()
    # Replicas starting at the same moment insert the same ids; the one that loses the race
    # finds the rows on its second try and only refreshes them.
    for attempt in (1, 2):
        try:
            with db.unit_of_work() as session:
                created = {"facilities": facility_service.sync(session, config=facilities)}
                if have_shelters:
                    created["shelters"] = evacuation_service.sync_shelters(
                        session, shelters=shelters, zones=zones
                    )
            return created
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("another process seeded the reference data at the same time; refreshing")
    raise AssertionError("unreachable")


def _seed(runtime: Runtime) -> dict[str, int]:
    return seed_reference_data(runtime.db, runtime.config)


def sync_liaison_contacts(runtime: Runtime) -> dict[str, int]:
    from emergency.liaison import service as liaison_service

    with runtime.db.unit_of_work() as session:
        added = liaison_service.sync_contacts(session, config=runtime.config.liaison)
    return {"liaison_contacts_added": added}


def evaluate_rules(runtime: Runtime) -> dict[str, int]:
    from emergency.signals import flows as signal_flows

    ran = 0
    for exercise in (False, True):
        with runtime.db.unit_of_work() as session:
            ran += len(signal_flows.evaluate_rules(session, runtime=runtime, exercise=exercise))
    return {"rule_actions_run": ran}


Step = Callable[[Runtime], dict[str, int]]
STEPS: dict[Role, tuple[Step, ...]] = {
    "api": (check_config, _seed, sync_liaison_contacts),
    "scheduler": (check_config,),
    "worker": (),  # sends what the outbox holds; reads no config file
    "cli": (),
}
# After the demo data, where there is any (see the module docstring).
LAST: dict[Role, tuple[Step, ...]] = {
    "api": (evaluate_rules,),
    "scheduler": (),
    "worker": (),
    "cli": (),
}


def startup(runtime: Runtime, *, demo: Callable[[Runtime], object] | None = None) -> None:
    """Run this process's start-up steps in order (blocking: from a thread in an event loop)."""
    done: dict[str, int] = {}
    for step in STEPS[runtime.role]:
        done.update(step(runtime))
    if demo is not None:
        demo(runtime)
    for step in LAST[runtime.role]:
        done.update(step(runtime))
    log.info("started", extra={"role": runtime.role, "startup": done})
