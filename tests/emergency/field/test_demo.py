"""The field demo data loads on a fresh database, twice without doubling anything."""

from __future__ import annotations

from emergency import demo
from emergency.runtime import Runtime
from emergency.situation import service as situation_service


def test_demo_loads_idempotently(database_url, settings_for, tmp_path):
    from emergency.catalogue import load_catalogue

    settings = settings_for(database_url, TYPHOON_DATA_DIR=str(tmp_path))
    runtime = Runtime.build(settings, role="cli")
    try:
        demo.load(runtime)
        demo.load(runtime)
        with runtime.db.session() as session:
            catalogue = load_catalogue(settings.config_dir / "signals.yaml")
            sit = situation_service.build(session, catalogue=catalogue)
            drill = situation_service.build(session, catalogue=catalogue, exercise=True)
    finally:
        runtime.close()
    assert sit["crews"]["crews"] == 11 and sit["crews"]["people"] == 661
    assert sit["field"]["inspections"]["groups"] == 6
    assert sit["vulnerable"]["total"] == 5 and sit["facilities"]["total"] == 6
    # The demo's hazards (one critical: an alarm) and open shelters are a drill's, never real
    # figures, alarms or escalation SMS.
    assert sit["field"]["hazards"]["open"] == 0 and sit["alarms"]["totals"]["active"] == 0
    assert drill["field"]["hazards"]["open"] == 4 and drill["alarms"]["items"]
    assert sit["evacuation"]["shelters"]["open"] == 0
    assert drill["evacuation"]["shelters"]["open"] == 2
